"""GraphQL execution machinery: compiled executor, cost, allow-list, introspection."""
