"""Built-in datasets. Each is an in-memory ``ImageDataset`` (see ``genfw.data.base``)."""
