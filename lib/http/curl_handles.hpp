// RAII for libcurl handles. CURL_STRICTER (set for every target) makes CURL, CURLM and CURLSH
// distinct types, so a handle cannot be passed to the wrong family of calls.
#pragma once

#include <memory>

#include <curl/curl.h>

namespace certrotd::http {

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

}  // namespace certrotd::http
