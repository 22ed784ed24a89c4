// Private helpers shared by the x509 sources (and the local issuer): OpenSSL error-queue
// formatting, memory BIOs, and conversions between OpenSSL structures and the value types in
// types.hpp. Not part of the module's contract; other modules use certificate.hpp and friends.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/crypto.h>

#include "util/clock.hpp"
#include "util/result.hpp"
#include "x509/handles.hpp"
#include "x509/types.hpp"

namespace certrotd::x509::detail {

struct OpenSslStringDeleter {
  void operator()(char* p) const { OPENSSL_free(p); }
};
using OpenSslStringPtr = std::unique_ptr<char, OpenSslStringDeleter>;

using GeneralNamePtr =
    std::unique_ptr<GENERAL_NAME, OpenSslDeleter<GENERAL_NAME, GENERAL_NAME_free>>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, OpenSslDeleter<ASN1_STRING, ASN1_STRING_free>>;

// Drains the thread's OpenSSL error queue into "reason; reason; ..." (empty when the queue is
// empty). Every failing OpenSSL call is followed by this, so no stale error leaks into the next.
std::string drain_errors();

// `fail(what + ": " + drained errors)`, or just `what` when OpenSSL left no reason.
tl::unexpected<Error> fail_openssl(const std::string& what);

// A read-only memory BIO over `data` (which must outlive it).
Result<BioPtr> memory_bio(std::string_view data);
// An empty, writable memory BIO.
Result<BioPtr> output_bio();
// Everything written to a memory BIO so far.
std::string bio_contents(BIO* bio);

// The algorithm and size of a key (public or private).
KeySpec key_spec_of(const EVP_PKEY* key);

// Signature digest for a signing key: SHA-256, or none for the EdDSA keys that hash internally.
const EVP_MD* digest_for(const EVP_PKEY* key);

// Subject <-> X509_NAME. Entries are added in the conventional order C, ST, L, O, OU, CN.
Result<X509NamePtr> build_name(const Subject& subject);
Subject subject_from_name(const X509_NAME* name);
// One line, RFC 2253.
std::string name_to_string(const X509_NAME* name);

// SANs <-> GENERAL_NAMES. Name types certrotd does not model (otherName, dirName, ...) are skipped
// when reading.
Result<GeneralNamesPtr> build_general_names(const std::vector<San>& sans);
std::vector<San> sans_from_general_names(const GENERAL_NAMES* names);

// Extended key usages <-> EXTENDED_KEY_USAGE. Usages certrotd does not model are skipped.
Result<AsnObjectStackPtr> build_extended_usages(const std::vector<ExtendedUsage>& usages);
std::vector<ExtendedUsage> usages_from_objects(const STACK_OF(ASN1_OBJECT) * objects);

SystemTime from_asn1_time(const ASN1_TIME* time);
Result<Asn1TimePtr> to_asn1_time(SystemTime time);

}  // namespace certrotd::x509::detail
