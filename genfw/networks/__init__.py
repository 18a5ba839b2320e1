"""Built-in networks that fit any image size: a DCGAN-style family (generator, discriminator,
encoder) parameterised by the dataset's image shape. Models use them by role; see
``genfw.networks.conv``."""
