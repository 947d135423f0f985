// GraphQL over HTTP: the console's only channel to the gateway.

export class ApiError extends Error {
  constructor(message, code = null, status = null) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
  }
}

const ENDPOINT = new URL("../graphql", import.meta.url).pathname;

/** POST one operation; resolve to `data`, reject with an ApiError built from `errors[0]`. */
export async function gql(token, query, variables = {}) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/graphql-response+json, application/json",
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(`Network error: ${err.message}`, "network_error");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const first = body && Array.isArray(body.errors) ? body.errors[0] : null;
  if (first) {
    const code = (first.extensions && first.extensions.code) || null;
    throw new ApiError(first.message || "Request failed", code, response.status);
  }
  if (!response.ok || !body || body.data == null) {
    const message =
      (body && (body.message || body.error)) || `HTTP ${response.status} ${response.statusText}`;
    const code = (body && typeof body.error === "string" && body.error) || `http_${response.status}`;
    throw new ApiError(message, code, response.status);
  }
  return body.data;
}

/** Claims of a JWT (no signature check: only used to list handles and the expiry). */
export function decodeJwt(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

const CAMPAIGN_FIELDS = `campaignId name goalType status primarySlug trackingPreset
  conversionEventType createdAt`;

export const Q_CAMPAIGNS = `query ConsoleCampaigns($handle: String!, $status: CampaignStatus,
    $after: String) {
  campaigns(handle: $handle, status: $status, first: 50, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { ${CAMPAIGN_FIELDS} funnel { qualifiedClicks conversions } } }
  }
}`;

export const Q_FUNNEL = `query ConsoleFunnel($handle: String!, $campaignId: String!,
    $dateRange: String, $includeTest: Boolean!) {
  campaign(handle: $handle, campaignId: $campaignId) {
    ${CAMPAIGN_FIELDS}
    funnel(dateRange: $dateRange, includeTest: $includeTest) {
      clicks qualifiedClicks conversions revenue currency confidence lastSeenAt
      stages { name count rate dropOff }
      source: breakdown(dimension: SOURCE) { value count }
      country: breakdown(dimension: COUNTRY) { value count }
      device: breakdown(dimension: DEVICE) { value count }
    }
  }
}`;

export const Q_LINKS = `query ConsoleLinks($handle: String!, $campaignId: String) {
  links(handle: $handle, campaignId: $campaignId, first: 100) {
    totalCount
    edges { node { slug destinationUrl shortPath campaignId
      trackingPolicy { appendContextParam } } }
  }
}`;

export const Q_HEALTH = `query ConsoleHealth($handle: String!, $campaignId: String!) {
  campaignHealth(handle: $handle, campaignId: $campaignId) {
    campaignId readiness checks { name status detail }
  }
}`;

export const M_CREATE = `mutation ConsoleCreateCampaign($handle: String!,
    $input: CreateCampaignInput!) {
  createCampaign(handle: $handle, input: $input) {
    quickStart
    campaign { ${CAMPAIGN_FIELDS} }
  }
}`;

export const M_STATUS = `mutation ConsoleSetStatus($handle: String!, $campaignId: String!,
    $status: CampaignStatus!) {
  setCampaignStatus(handle: $handle, campaignId: $campaignId, status: $status) {
    ${CAMPAIGN_FIELDS}
  }
}`;

export const M_LINK = `mutation ConsoleUpsertLink($handle: String!, $slug: String!,
    $input: LinkInput!) {
  upsertLink(handle: $handle, slug: $slug, input: $input) {
    slug destinationUrl shortPath campaignId trackingPolicy { appendContextParam }
  }
}`;

export const M_TEST = `mutation ConsoleTestConversion($handle: String!, $campaignId: String!,
    $input: TestConversionInput) {
  testConversion(handle: $handle, campaignId: $campaignId, input: $input) {
    status webhookEventId
    conversion { conversionId eventId eventType value currency test occurredAt }
  }
}`;
