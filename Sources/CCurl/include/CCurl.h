#ifndef INCRCC_CCURL_H
#define INCRCC_CCURL_H
#include <curl/curl.h>

/// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed function per
/// argument kind.
CURLcode incrcc_curl_set_long(CURL *handle, CURLoption option, long value);
CURLcode incrcc_curl_set_pointer(CURL *handle, CURLoption option, const void *value);
CURLcode incrcc_curl_set_offset(CURL *handle, CURLoption option, curl_off_t value);
CURLcode incrcc_curl_set_write(CURL *handle, size_t (*callback)(char *, size_t, size_t, void *), void *context);
long incrcc_curl_response_code(CURL *handle);
#endif
