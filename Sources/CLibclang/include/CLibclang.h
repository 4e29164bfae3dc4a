#ifndef INCRCC_CLIBCLANG_H
#define INCRCC_CLIBCLANG_H

/* The few libclang entry points incrcc uses, declared here so that neither the
   headers nor the library are needed at build time. The table is filled by
   dlopen/dlsym; libclang is never linked. Layouts follow clang-c/Index.h. */

typedef struct {
  const void *data;
  unsigned private_flags;
} IncrccCXString;

typedef void *IncrccCXIndex;
typedef void *IncrccCXTranslationUnit;
typedef void *IncrccCXFile;
typedef void *IncrccCXDiagnostic;

typedef struct {
  const void *ptr_data[2];
  unsigned int_data;
} IncrccCXSourceLocation;

typedef void (*IncrccCXInclusionVisitor)(IncrccCXFile includedFile, IncrccCXSourceLocation *inclusionStack,
                                         unsigned includeLength, void *clientData);

typedef struct {
  void *handle;
  IncrccCXIndex (*createIndex)(int excludeDeclarationsFromPCH, int displayDiagnostics);
  void (*disposeIndex)(IncrccCXIndex index);
  IncrccCXString (*getClangVersion)(void);
  const char *(*getCString)(IncrccCXString string);
  void (*disposeString)(IncrccCXString string);
  int (*parseTranslationUnit2)(IncrccCXIndex index, const char *sourceFilename,
                               const char *const *commandLineArgs, int numCommandLineArgs,
                               void *unsavedFiles, unsigned numUnsavedFiles,
                               unsigned options, IncrccCXTranslationUnit *outTU);
  void (*disposeTranslationUnit)(IncrccCXTranslationUnit unit);
  IncrccCXString (*getFileName)(IncrccCXFile file);
  void (*getInclusions)(IncrccCXTranslationUnit unit, IncrccCXInclusionVisitor visitor, void *clientData);
  unsigned (*getNumDiagnostics)(IncrccCXTranslationUnit unit);
  IncrccCXDiagnostic (*getDiagnostic)(IncrccCXTranslationUnit unit, unsigned index);
  int (*getDiagnosticSeverity)(IncrccCXDiagnostic diagnostic);
  IncrccCXString (*getDiagnosticSpelling)(IncrccCXDiagnostic diagnostic);
  void (*disposeDiagnostic)(IncrccCXDiagnostic diagnostic);
} IncrccLibclang;

/* Receives each file of a translation unit, the main file included. */
typedef void (*IncrccInclusionSink)(const char *path, void *context);

/* Calls `sink` for every file `unit` read (clang_getInclusions). */
void incrcc_libclang_inclusions(const IncrccLibclang *table, IncrccCXTranslationUnit unit,
                                IncrccInclusionSink sink, void *context);

/* Copies the first fatal diagnostic's text into `buffer` and returns 1, or returns 0 when there is none. */
int incrcc_libclang_fatal_error(const IncrccLibclang *table, IncrccCXTranslationUnit unit,
                                char *buffer, unsigned long bufferSize);

/* Opens `path` and fills `table`. Returns 0 on success, 1 when the library
   cannot be opened, 2 when a required symbol is missing (the library is closed
   again). On failure `errorBuffer` receives a message. */
int incrcc_libclang_open(const char *path, IncrccLibclang *table,
                         char *errorBuffer, unsigned long errorBufferSize);

/* Closes what incrcc_libclang_open opened and clears the table. */
void incrcc_libclang_close(IncrccLibclang *table);

#endif
