from setuptools import find_packages, setup

setup(
    name="nasnet-keras",
    version="0.1.0",
    description="NASNet cells as data, NASNet-A/B/C models with ImageNet weights, and RL "
                "architecture search on keras-tuner.",
    long_description=open("README.md", encoding="utf8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["nasnet_keras", "nasnet_keras.*"]) + ["nasnet_search"],
    package_dir={"nasnet_search": "search"},
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.0",
        "keras-tuner>=1.4",
        # keras-tuner's Tuner imports tensorboard in every trial on the TF backend,
        # and TensorFlow no longer installs it (keras_tuner.md finding 1).
        "tensorboard>=2.16",
        "tensorflow-datasets>=4.9",
        "h5py>=3.8",
        "numpy>=1.23",
        "scikit-learn>=1.2",
        "matplotlib>=3.7",
    ],
    extras_require={
        "dev": ["pytest>=7", "pytest-xdist>=3", "nbformat>=5", "nbclient>=0.7", "ipykernel>=6"],
    },
    entry_points={
        "console_scripts": [
            "nasnet-keras=nasnet_keras.cli:main",
            "nasnet-keras-convert=nasnet_keras.convert:main",
            "nasnet-search=nasnet_search.cli:main",
        ],
    },
)
