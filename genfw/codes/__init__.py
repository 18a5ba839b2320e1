"""Built-in latent-code types, registered through the same hook any plugin uses."""
