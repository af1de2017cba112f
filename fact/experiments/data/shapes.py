"""Each image dataset's image shape, known without reading the images: standard library only, so
that models are built from it and the workflow checks settings against it when the DAG is built."""

# (channels, side) of each dataset's square images, which come flattened, channel-major
IMAGE_SHAPES = {
    "digits": (1, 8),
    "mnist": (1, 28),
    "mnist_test": (1, 28),
    "fashion_mnist": (1, 28),
    "cifar10": (3, 32),
    "cifar10_jpeg": (3, 32),
}
IMAGE_CLASSES = 10  # every one of them has ten


def input_size(dataset: str) -> int:
    """The number of values in one flattened image of ``dataset``."""
    channels, side = IMAGE_SHAPES[dataset]
    return channels * side * side
