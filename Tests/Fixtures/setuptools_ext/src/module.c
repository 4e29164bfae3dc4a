#define PY_SSIZE_T_CLEAN
#include <Python.h>
long scale(long x);
long offset(long x);
static PyObject *apply(PyObject *self, PyObject *args) {
    long x;
    if (!PyArg_ParseTuple(args, "l", &x)) return NULL;
    return PyLong_FromLong(offset(scale(x)));
}
static PyMethodDef methods[] = {{"apply", apply, METH_VARARGS, "offset(scale(x))"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "incrcc_setuptools_ext", NULL, -1, methods};
PyMODINIT_FUNC PyInit_incrcc_setuptools_ext(void) { return PyModule_Create(&module); }
