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
  table->getInclusions = lookup(handle, "clang_getInclusions", &missing, errorBuffer, errorBufferSize);
  table->getNumDiagnostics = lookup(handle, "clang_getNumDiagnostics", &missing, errorBuffer, errorBufferSize);
  table->getDiagnostic = lookup(handle, "clang_getDiagnostic", &missing, errorBuffer, errorBufferSize);
  table->getDiagnosticSeverity = lookup(handle, "clang_getDiagnosticSeverity", &missing, errorBuffer, errorBufferSize);
  table->getDiagnosticSpelling = lookup(handle, "clang_getDiagnosticSpelling", &missing, errorBuffer, errorBufferSize);
  table->disposeDiagnostic = lookup(handle, "clang_disposeDiagnostic", &missing, errorBuffer, errorBufferSize);
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

typedef struct {
  const IncrccLibclang *table;
  IncrccInclusionSink sink;
  void *context;
} InclusionVisit;

static void visitInclusion(IncrccCXFile file, IncrccCXSourceLocation *stack, unsigned length, void *data) {
  (void)stack;
  (void)length;
  InclusionVisit *visit = data;
  IncrccCXString name = visit->table->getFileName(file);
  const char *text = visit->table->getCString(name);
  if (text != NULL) {
    visit->sink(text, visit->context);
  }
  visit->table->disposeString(name);
}

void incrcc_libclang_inclusions(const IncrccLibclang *table, IncrccCXTranslationUnit unit,
                                IncrccInclusionSink sink, void *context) {
  InclusionVisit visit = {table, sink, context};
  table->getInclusions(unit, visitInclusion, &visit);
}

/* CXDiagnostic_Fatal in clang-c/Index.h. */
enum { IncrccSeverityFatal = 4 };

int incrcc_libclang_fatal_error(const IncrccLibclang *table, IncrccCXTranslationUnit unit,
                                char *buffer, unsigned long bufferSize) {
  unsigned count = table->getNumDiagnostics(unit);
  for (unsigned i = 0; i < count; i++) {
    IncrccCXDiagnostic diagnostic = table->getDiagnostic(unit, i);
    if (table->getDiagnosticSeverity(diagnostic) >= IncrccSeverityFatal) {
      IncrccCXString text = table->getDiagnosticSpelling(diagnostic);
      const char *raw = table->getCString(text);
      snprintf(buffer, bufferSize, "%s", raw ? raw : "fatal error");
      table->disposeString(text);
      table->disposeDiagnostic(diagnostic);
      return 1;
    }
    table->disposeDiagnostic(diagnostic);
  }
  return 0;
}
