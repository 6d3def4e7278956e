"""The HTTP adapters: native REST routes, Floodlight compatibility, the web page and the OpenAPI document."""
