// The text of an errno value, the one way lib/ and the daemon turn one into words.
#pragma once

#include <string>

namespace certrotd {

// "No such file or directory" for ENOENT; "Unknown error 12345" for a value the C library does
// not know. Thread-safe (strerror_r, never strerror). Takes a positive errno value: pass `-r`
// for the negative ones sd-bus and sd-event return.
std::string errno_text(int err);

}  // namespace certrotd
