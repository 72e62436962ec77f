"""site_agent write operations, by sub-domain: agents (seller side), configs, api_keys, usage."""
