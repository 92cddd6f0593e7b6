"""Data sets for the GAN experiments (Section 4): never downloaded.

``make_shapes``: the embedded default, generated images with known factors.
``ImageFolder``: CelebA / LSUN Bedroom images from a local folder, streamed.
"""
from sbp.data.folder import ImageFolder, list_images
from sbp.data.shapes import FACTOR_NAMES, SHAPE_NAMES, ShapesData, encode_factors, make_shapes, render_shapes

__all__ = ["ShapesData", "make_shapes", "render_shapes", "encode_factors", "FACTOR_NAMES",
           "SHAPE_NAMES", "ImageFolder", "list_images"]
