#include "CLibclang.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static void *lookup(void *handle, const char *name, int *missing, char *err, unsigned long size) {
  void *symbol = dlsym(handle, name);
  if (symbol == NULL && *missing == 0) {
    *missing = 1;
    snprintf(err, size, "symbol %s not found", name);
  }
  return symbol;
}

int incrcc_libclang_open(const char *path, IncrccLibclang *table,
                         char *errorBuffer, unsigned long errorBufferSize) {
  memset(table, 0, sizeof *table);
  void *handle = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
  if (handle == NULL) {
    const char *reason = dlerror();
    snprintf(errorBuffer, errorBufferSize, "%s", reason ? reason : "dlopen failed");
    return 1;
  }
  int missing = 0;
  table->createIndex = lookup(handle, "clang_createIndex", &missing, errorBuffer, errorBufferSize);
  table->disposeIndex = lookup(handle, "clang_disposeIndex", &missing, errorBuffer, errorBufferSize);
  table->getClangVersion = lookup(handle, "clang_getClangVersion", &missing, errorBuffer, errorBufferSize);
  table->getCString = lookup(handle, "clang_getCString", &missing, errorBuffer, errorBufferSize);
  table->disposeString = lookup(handle, "clang_disposeString", &missing, errorBuffer, errorBufferSize);
  table->parseTranslationUnit2 = lookup(handle, "clang_parseTranslationUnit2", &missing, errorBuffer, errorBufferSize);
  table->disposeTranslationUnit = lookup(handle, "clang_disposeTranslationUnit", &missing, errorBuffer, errorBufferSize);
  table->getFileName = lookup(handle, "clang_getFileName", &missing, errorBuffer, errorBufferSize);
  if (missing) {
    dlclose(handle);
    memset(table, 0, sizeof *table);
    return 2;
  }
  table->handle = handle;
  return 0;
}

void incrcc_libclang_close(IncrccLibclang *table) {
  if (table->handle != NULL) {
    dlclose(table->handle);
  }
  memset(table, 0, sizeof *table);
}
