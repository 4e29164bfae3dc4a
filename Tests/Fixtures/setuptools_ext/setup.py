from setuptools import Extension, setup

setup(ext_modules=[Extension("incrcc_setuptools_ext", sources=["src/module.c", "src/scale.c", "src/offset.c"])])
