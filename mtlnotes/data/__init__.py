"""Datasets: a verified download cache, official-format readers and the papers' multi-task splits."""

from mtlnotes.data.cache import (ChecksumError, DataError, DataMissingError, RemoteFile, cache_dir, fetch,
                                 file_checksum, verify_file)
from mtlnotes.data.idx import IDXFormatError, read_idx, write_idx
from mtlnotes.data.mnist import (FASHION_MNIST_CLASSES, FASHION_MNIST_FILES, MNIST_FILES, ImageDataset,
                                 load_fashion_mnist, load_mnist)
from mtlnotes.data.multitask import (MultiLabelData, TaskData, mnist_mtl, mnist_mtl_validation, multi_mnist,
                                     split_indices)

__all__ = [
    "ChecksumError", "DataError", "DataMissingError", "RemoteFile", "cache_dir", "fetch", "file_checksum",
    "verify_file", "IDXFormatError", "read_idx", "write_idx", "FASHION_MNIST_CLASSES", "FASHION_MNIST_FILES",
    "MNIST_FILES", "ImageDataset", "load_fashion_mnist", "load_mnist", "MultiLabelData", "TaskData", "mnist_mtl",
    "mnist_mtl_validation", "multi_mnist", "split_indices",
]
