"""Built-in plugins. Each is a package any third-party plugin could also be."""
