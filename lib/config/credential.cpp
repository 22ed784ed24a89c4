// Reading one entry of `credentials:` and the settings it shares with `defaults:`.
#include <algorithm>
#include <cctype>
#include <string_view>

#include "config/loader.hpp"
#include "util/duration.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace certrotd::config::detail {

namespace {

constexpr std::string_view k_key_example =
    "key: { type: ec, curve: P-256 }, key: { type: rsa, bits: 3072 } or key: { type: ed25519 }";
constexpr std::string_view k_key_fields_example =
    "key: { type: ec, curve: P-256 }, key: { type: rsa, bits: 3072, reuse: true } or "
    "key: { reuse: true }";

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

// "did you mean 'X'? " when a candidate is close, else nothing.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string match = closest_match(word, candidates);
  return match.empty() ? std::string() : "did you mean '" + match + "'? ";
}

std::optional<x509::KeySpec> read_key_spec(const Fields& fields, const Reader& reader) {
  const Field* type = fields.get("type");
  const auto type_name = reader.string(*type);
  if (!type_name) return std::nullopt;
  const Field* curve = fields.get("curve");
  const Field* bits = fields.get("bits");
  x509::KeySpec spec;
  if (*type_name == "ec") {
    spec.type = x509::KeyType::ec;
    if (bits) {
      reader.add(bits->key_mark, "bits applies to rsa keys only",
                 "for an ec key write curve: P-256 or curve: P-384 instead");
      return std::nullopt;
    }
    if (curve) {
      const auto name = reader.string(*curve);
      if (!name) return std::nullopt;
      if (*name != "P-256" && *name != "P-384") {
        const std::string lower = to_lower(*name);
        // OpenSSL and other tools call the same curves by other names; point at ours.
        std::string hint;
        if (lower == "prime256v1" || lower == "secp256r1" || lower == "p256") hint = "P-256";
        if (lower == "secp384r1" || lower == "p384") hint = "P-384";
        if (hint.empty()) hint = closest_match(*name, {"P-256", "P-384"});
        reader.add(curve->value_mark, "unsupported ec curve " + in_quotes(*name),
                   (hint.empty() ? std::string() : "did you mean '" + hint + "'? ") +
                       "write curve: P-256 or curve: P-384");
        return std::nullopt;
      }
      spec.curve = *name;
    }
  } else if (*type_name == "rsa") {
    spec.type = x509::KeyType::rsa;
    if (curve) {
      reader.add(curve->key_mark, "curve applies to ec keys only",
                 "for an rsa key write bits: 2048, 3072 or 4096 instead");
      return std::nullopt;
    }
    if (bits) {
      const auto value = reader.integer(*bits, 0, 1 << 20);
      if (!value) return std::nullopt;
      if (*value != 2048 && *value != 3072 && *value != 4096) {
        reader.add(bits->value_mark,
                   "rsa keys of " + std::to_string(*value) + " bits are not supported",
                   "write bits: 2048, 3072 or 4096");
        return std::nullopt;
      }
      spec.rsa_bits = static_cast<int>(*value);
    }
  } else if (*type_name == "ed25519") {
    spec.type = x509::KeyType::ed25519;
    if (curve || bits) {
      const Field* extra = curve ? curve : bits;
      reader.add(extra->key_mark, "ed25519 keys take no " + extra->key,
                 "write key: { type: ed25519 }");
      return std::nullopt;
    }
  } else {
    std::string hint = did_you_mean(*type_name, {"ec", "rsa", "ed25519"});
    if (to_lower(*type_name) == "ecdsa") hint = "did you mean 'ec'? ";
    reader.add(type->value_mark, "unknown key type " + in_quotes(*type_name),
               hint + "write " + std::string(k_key_example));
    return std::nullopt;
  }
  return spec;
}

// `key:`: the type (type, curve, bits) and `reuse`, each its own setting.
void read_key(const Field& field, const Reader& reader, Tunables& t) {
  auto fields = reader.fields(*field.value, field.value_mark, "key",
                              {"type", "curve", "bits", "reuse"}, k_key_fields_example);
  if (!fields) return;
  const Field* reuse = fields->get("reuse");
  if (reuse) {
    if (const auto value = reader.boolean(*reuse)) {
      t.key_reuse = Setting<bool>{*value, reuse->value_mark};
    }
  }
  if (!fields->get("type")) {
    if (!reuse || fields->get("curve") || fields->get("bits")) {
      reader.add(fields->mark(), "key has no type", "write " + std::string(k_key_example));
    }
    return;
  }
  if (auto spec = read_key_spec(*fields, reader))
    t.key = Setting<x509::KeySpec>{*spec, field.value_mark};
}

// A percentage strictly between 0% and 100% (or below `max` when given).
std::optional<double> read_fraction(const Field& field, const Reader& reader, double max,
                                    bool allow_zero, std::string_view example) {
  const auto value = reader.percentage(field);
  if (!value) return std::nullopt;
  if ((!allow_zero && *value <= 0.0) || *value >= max) {
    const std::string low = allow_zero ? "at least 0%" : "more than 0%";
    const std::string high = "less than " + std::to_string(static_cast<int>(max * 100.0)) + "%";
    reader.add(
        field.value_mark,
        field.key + " must be " + low + " and " + high + ", got '" + field.value->scalar() + "'",
        "write e.g. " + field.key + ": " + std::string(example));
    return std::nullopt;
  }
  return value;
}

// A percentage of the lifetime ("10%") or, written with a unit, a time before notAfter ("7d").
// Anything else is read as a percentage, so its mistake is explained as one.
std::optional<ExpiryThreshold> read_threshold(const Field& field, const Reader& reader,
                                              std::string_view example) {
  const std::string text = field.value && field.value->is_scalar() ? field.value->scalar() : "";
  const bool has_unit = !text.empty() && std::isdigit(static_cast<unsigned char>(text.front())) &&
                        std::isalpha(static_cast<unsigned char>(text.back()));
  if (has_unit) {
    const auto before = reader.duration(field, Millis(std::chrono::seconds(1)));
    if (!before) return std::nullopt;
    return ExpiryThreshold{0.0, before};
  }
  const auto fraction = read_fraction(field, reader, 1.0, false, example);
  if (!fraction) return std::nullopt;
  return ExpiryThreshold{*fraction, std::nullopt};
}

// The expiry thresholds as the schedule takes them: a fraction, or a time before notAfter.
void apply_thresholds(const Tunables& t, schedule::RenewPolicy& policy) {
  if (t.expiring_at) {
    policy.expiring_at = t.expiring_at->value.fraction;
    policy.expiring_before = t.expiring_at->value.before;
  }
  if (t.critical_at) {
    policy.critical_at = t.critical_at->value.fraction;
    policy.critical_before = t.critical_at->value.before;
  }
}

template <typename T>
void set(std::optional<Setting<T>>& target, const std::optional<T>& value, const Field& field) {
  if (value) target = Setting<T>{*value, field.value_mark};
}

}  // namespace

std::vector<std::string> tunable_keys() {
  return {"key",     "renew_at",    "renew_before", "jitter",
          "backoff", "expiring_at", "critical_at",  "lifetime"};
}

Tunables read_tunables(const Fields& fields, const Reader& reader) {
  Tunables t;
  if (const Field* f = fields.get("key")) read_key(*f, reader, t);
  if (const Field* f = fields.get("renew_at")) {
    set(t.renew_at, read_fraction(*f, reader, 1.0, false, "66%"), *f);
  }
  if (const Field* f = fields.get("renew_before")) {
    set(t.renew_before, reader.duration(*f, Millis(std::chrono::seconds(1))), *f);
  }
  if (const Field* f = fields.get("jitter")) {
    // Applied as +/- around the renewal point: 50% or more could move it past expiry or to the
    // very start of the lifetime.
    set(t.jitter, read_fraction(*f, reader, 0.5, true, "5%"), *f);
  }
  if (const Field* f = fields.get("expiring_at")) {
    set(t.expiring_at, read_threshold(*f, reader, "10%"), *f);
  }
  if (const Field* f = fields.get("critical_at")) {
    set(t.critical_at, read_threshold(*f, reader, "3%"), *f);
  }
  if (const Field* f = fields.get("lifetime")) {
    set(t.lifetime, reader.duration(*f, Millis(std::chrono::seconds(1))), *f);
  }
  if (const Field* f = fields.get("backoff")) {
    const auto backoff = reader.fields(*f->value, f->value_mark, "backoff", {"base", "cap"},
                                       "backoff: { base: 30s, cap: 1h }");
    if (backoff) {
      if (const Field* b = backoff->get("base")) {
        set(t.backoff_base, reader.duration(*b, Millis(1)), *b);
      }
      if (const Field* c = backoff->get("cap")) {
        set(t.backoff_cap, reader.duration(*c, Millis(1)), *c);
      }
    }
  }
  return t;
}

Tunables overlay(const Tunables& base, const Tunables& over) {
  Tunables t = base;
  if (over.key) t.key = over.key;
  if (over.key_reuse) t.key_reuse = over.key_reuse;
  if (over.renew_at) t.renew_at = over.renew_at;
  if (over.renew_before) t.renew_before = over.renew_before;
  if (over.jitter) t.jitter = over.jitter;
  if (over.backoff_base) t.backoff_base = over.backoff_base;
  if (over.backoff_cap) t.backoff_cap = over.backoff_cap;
  if (over.expiring_at) t.expiring_at = over.expiring_at;
  if (over.critical_at) t.critical_at = over.critical_at;
  if (over.lifetime) t.lifetime = over.lifetime;
  return t;
}

bool is_safe_file_name(std::string_view name) {
  if (name.empty() || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
  });
}

namespace {

void read_subject(const Field& field, const Reader& reader, x509::Subject& subject) {
  const auto fields = reader.fields(
      *field.value, field.value_mark, "subject",
      {"common_name", "organization", "organizational_unit", "country", "state", "locality"},
      "subject: { common_name: web.example.internal, organization: [Example] }");
  if (!fields) return;
  if (const Field* f = fields->get("common_name")) {
    if (auto v = reader.string(*f)) subject.common_name = *v;
  }
  using Attribute = x509::Subject::Attribute;
  const auto read_list = [&](std::string_view key, Attribute attribute) {
    const Field* f = fields->get(key);
    if (!f) return;
    const auto items = reader.string_list(*f, f->key + ": [Example]");
    if (!items) return;
    for (const auto& item : *items) subject.add(attribute, item.value);
  };
  read_list("organization", Attribute::organization);
  read_list("organizational_unit", Attribute::organizational_unit);
  if (const Field* f = fields->get("country")) {
    if (auto v = reader.string(*f)) {
      const bool two_letters = v->size() == 2 && std::all_of(v->begin(), v->end(), [](char c) {
                                 return std::isalpha(static_cast<unsigned char>(c)) != 0;
                               });
      if (!two_letters) {
        reader.add(f->value_mark, "country " + in_quotes(*v) + " is not a two-letter country code",
                   "write an ISO 3166 code such as country: DE");
      } else {
        subject.set(Attribute::country, *v);
      }
    }
  }
  if (const Field* f = fields->get("state")) {
    if (auto v = reader.string(*f)) subject.set(Attribute::state, *v);
  }
  if (const Field* f = fields->get("locality")) {
    if (auto v = reader.string(*f)) subject.set(Attribute::locality, *v);
  }
}

void read_sans(const Field& field, const Reader& reader, std::vector<x509::San>& sans) {
  const auto items = reader.string_list(field,
                                        "sans: [\"DNS:web.example.internal\", \"IP:10.0.0.5\"]");
  if (!items) return;
  for (const auto& item : *items) {
    const std::string& text = item.value;
    const auto colon = text.find(':');
    const std::string prefix = colon == std::string::npos ? std::string()
                                                          : to_lower(text.substr(0, colon));
    if (prefix != "dns" && prefix != "ip" && prefix != "uri" && prefix != "email") {
      // A bare name is the usual slip; show it with the prefix it most likely needs.
      const bool looks_like_ip = !text.empty() &&
                                 text.find_first_not_of("0123456789.:abcdefABCDEF") ==
                                     std::string::npos &&
                                 text.find_first_of(".:") != std::string::npos;
      const std::string fixed = colon == std::string::npos ? (looks_like_ip ? "IP:" : "DNS:") + text
                                                           : "DNS:" + text.substr(colon + 1);
      reader.add(item.mark, "SAN " + in_quotes(text) + " does not start with a type",
                 "write \"" + fixed + "\" (types: DNS:, IP:, URI:, email:)");
      continue;
    }
    auto san = x509::parse_san(text);
    if (!san) {
      const std::string example = prefix == "ip"      ? "\"IP:10.0.0.5\""
                                  : prefix == "uri"   ? "\"URI:spiffe://example.org/web\""
                                  : prefix == "email" ? "\"email:ops@example.org\""
                                                      : "\"DNS:web.example.internal\"";
      reader.add(item.mark, "SAN " + in_quotes(text) + " is not valid: " + san.error().message,
                 "write e.g. " + example);
      continue;
    }
    if (std::find(sans.begin(), sans.end(), *san) != sans.end()) {
      reader.add(item.mark, "SAN " + in_quotes(text) + " is listed twice", "list each name once");
      continue;
    }
    sans.push_back(*san);
  }
}

void read_usages(const Field& field, const Reader& reader,
                 std::vector<x509::ExtendedUsage>& usages) {
  const auto items = reader.string_list(field, "usage: [serverAuth, clientAuth]");
  if (!items) return;
  for (const auto& item : *items) {
    auto usage = x509::parse_extended_usage(item.value);
    if (!usage) {
      reader.add(item.mark, "unknown usage " + in_quotes(item.value),
                 did_you_mean(item.value, {"serverAuth", "clientAuth"}) +
                     "write serverAuth and/or clientAuth");
      continue;
    }
    if (std::find(usages.begin(), usages.end(), *usage) != usages.end()) {
      reader.add(item.mark, "usage " + in_quotes(item.value) + " is listed twice",
                 "list each usage once");
      continue;
    }
    usages.push_back(*usage);
  }
}

struct Ownership {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

// owner:/group: resolved now, so a typo fails the load instead of the first rotation.
Ownership read_ownership(const Fields& fields, const Reader& reader) {
  Ownership out;
  if (const Field* f = fields.get("owner")) {
    if (auto name = reader.string(*f)) {
      if (auto uid = lookup_user(*name)) {
        out.uid = *uid;
      } else {
        reader.add(f->value_mark, "no user " + in_quotes(*name) + " on this system",
                   "write an existing user name or a numeric uid");
      }
    }
  }
  if (const Field* f = fields.get("group")) {
    if (auto name = reader.string(*f)) {
      if (auto gid = lookup_group(*name)) {
        out.gid = *gid;
      } else {
        reader.add(f->value_mark, "no group " + in_quotes(*name) + " on this system",
                   "write an existing group name or a numeric gid");
      }
    }
  }
  return out;
}

struct ContentName {
  std::string_view name;
  store::Content content;
};

constexpr ContentName k_contents[] = {
    {"cert", store::Content::cert},           {"chain", store::Content::chain},
    {"fullchain", store::Content::fullchain}, {"key", store::Content::key},
    {"bundle", store::Content::bundle},       {"ca", store::Content::ca},
};

std::optional<store::Content> read_content(const Field& field, const Reader& reader) {
  const auto text = reader.string(field);
  if (!text) return std::nullopt;
  std::vector<std::string> names;
  for (const auto& c : k_contents) {
    if (c.name == *text) return c.content;
    names.emplace_back(c.name);
  }
  reader.add(field.value_mark, "unknown content " + in_quotes(*text),
             did_you_mean(*text, names) + "write one of cert, chain, fullchain, key, bundle, ca");
  return std::nullopt;
}

bool is_secret_content(store::Content content) {
  return content == store::Content::key || content == store::Content::bundle;
}

void read_copies(const Field& field, const Reader& reader, const Ownership& output_owner,
                 std::optional<mode_t> output_mode, PendingCredential& credential) {
  constexpr std::string_view example =
      "copies: [{ path: /etc/nginx/tls/web.crt, content: fullchain }]";
  const YamlNode& node = *field.value;
  if (node.is_null()) return;
  if (!node.is_sequence()) {
    reader.add(field.value_mark, "copies must be a list, not " + std::string(describe(node)),
               "write " + std::string(example));
    return;
  }
  for (const auto& item : node.items()) {
    const Mark item_mark = reader.mark(item, field.value_mark);
    const auto fields = reader.fields(item, item_mark, "a copy",
                                      {"path", "content", "mode", "owner", "group"},
                                      "- { path: /etc/nginx/tls/web.crt, content: fullchain }");
    if (!fields) continue;
    store::CopySpec copy;
    bool ok = true;
    const Field* path = fields->get("path");
    const Field* content = fields->get("content");
    if (!path || !content) {
      reader.add(fields->mark(),
                 std::string("a copy needs ") + (!path && !content ? "a path and a content"
                                                 : !path           ? "a path"
                                                                   : "a content"),
                 "write - { path: /etc/nginx/tls/web.crt, content: fullchain }");
      ok = false;
    }
    if (path) {
      if (auto p = reader.path(*path))
        copy.path = *p;
      else
        ok = false;
    }
    if (content) {
      if (auto c = read_content(*content, reader))
        copy.content = *c;
      else
        ok = false;
    }
    if (const Field* m = fields->get("mode")) {
      if (auto mode = reader.mode(*m))
        copy.mode = *mode;
      else
        ok = false;
    } else if (ok && is_secret_content(copy.content) && output_mode) {
      // A copy of the key is as secret as key.pem: it follows output.mode unless told otherwise.
      copy.mode = output_mode;
    }
    const Ownership own = read_ownership(*fields, reader);
    copy.owner.uid = own.uid ? own.uid : output_owner.uid;
    copy.owner.gid = own.gid ? own.gid : output_owner.gid;
    if (!ok) continue;
    credential.config.output.copies.push_back(copy);
    credential.copy_marks.push_back(path ? path->value_mark : fields->mark());
  }
}

void read_output(const Field* field, const Reader& reader, const fs::path& state_dir,
                 PendingCredential& credential) {
  store::StoreOptions& output = credential.config.output;
  output.dir = (state_dir / "live" / credential.config.name).lexically_normal().native();
  credential.output_dir_mark = credential.config.mark;
  if (!field) return;
  const auto fields = reader.fields(
      *field->value, field->value_mark, "output",
      {"dir", "owner", "group", "mode", "keep", "copies"},
      "output: { dir: /var/lib/certrotd/live/web, group: www-data, mode: \"0640\" }");
  if (!fields) return;
  if (const Field* f = fields->get("dir")) {
    if (auto dir = reader.path(*f)) {
      output.dir = dir->native();
      credential.output_dir_mark = f->value_mark;
    }
  }
  const Ownership own = read_ownership(*fields, reader);
  output.owner.uid = own.uid;
  output.owner.gid = own.gid;
  std::optional<mode_t> mode;
  if (const Field* f = fields->get("mode")) {
    mode = reader.mode(*f);
    if (mode) output.secret_mode = *mode;
  }
  if (const Field* f = fields->get("keep")) {
    // The live version counts, so 1 keeps no history; more than a few dozen is only disk use.
    if (auto keep = reader.integer(*f, 1, 100)) output.keep_versions = static_cast<int>(*keep);
  }
  if (const Field* f = fields->get("copies")) read_copies(*f, reader, own, mode, credential);
}

// The first issuer type's own key (`sap:`) present, read by that type; the loader checks later
// that it matches the credential's issuer.
void read_issuer_key(const Fields& fields, const Reader& reader,
                     const issuer::IssuerRegistry& issuers, PendingCredential& credential) {
  for (const Field& f : fields.all()) {
    const auto type = issuers.find_by_credential_key(f.key);
    if (!type) continue;
    if (!credential.issuer_key.empty()) {
      reader.add(f.key_mark, f.key + ": cannot go with " + credential.issuer_key + ":",
                 "keep the one of the credential's issuer type");
      continue;
    }
    credential.issuer_key = f.key;
    credential.issuer_key_mark = f.key_mark;
    if (type->read_credential) credential.config.issuer_options = type->read_credential(f, reader);
  }
}

std::vector<std::string> credential_keys() {
  std::vector<std::string> keys = {
      "issuer",    "subject", "sans",       "usage",    "output", "key_passphrase_file",
      "on_rotate", "notify",  "activation", "on_staged"};
  for (auto& k : tunable_keys()) keys.push_back(std::move(k));
  return keys;
}

}  // namespace

// The settings a credential may take from `defaults:` (its own win), with the backoff checked.
void apply_tunables(const Tunables& t, const Mark& fallback, const Reader& reader,
                    PendingCredential& credential) {
  CredentialConfig& config = credential.config;
  if (t.key) config.key = t.key->value;
  if (t.key_reuse) config.key_reuse = t.key_reuse->value;
  credential.key_reuse = t.key_reuse;
  if (t.renew_at) config.policy.renew_at = t.renew_at->value;
  if (t.renew_before) config.policy.renew_before = t.renew_before->value;
  if (t.jitter) config.policy.jitter = t.jitter->value;
  apply_thresholds(t, config.policy);
  if (t.backoff_base) config.policy.backoff_base = t.backoff_base->value;
  if (t.backoff_cap) config.policy.backoff_cap = t.backoff_cap->value;
  if (t.lifetime) config.lifetime = t.lifetime->value;
  credential.renew_before = t.renew_before;
  credential.lifetime = t.lifetime;
  if (config.policy.backoff_cap < config.policy.backoff_base) {
    const Mark at = t.backoff_cap    ? t.backoff_cap->mark
                    : t.backoff_base ? t.backoff_base->mark
                                     : fallback;
    reader.problems().add(at,
                          "backoff cap " + format_duration(config.policy.backoff_cap) +
                              " is shorter than its base " +
                              format_duration(config.policy.backoff_base),
                          "write a cap at least as long as the base, e.g. backoff: { base: " +
                              format_duration(config.policy.backoff_base) +
                              ", cap: " + format_duration(config.policy.backoff_base * 4) + " }");
  }
}

std::optional<PendingCredential> read_credential(const Field& entry, const Tunables& defaults,
                                                 const fs::path& state_dir, const Reader& reader,
                                                 const issuer::IssuerRegistry& issuers) {
  PendingCredential credential;
  CredentialConfig& config = credential.config;
  config.name = entry.key;
  config.mark = entry.key_mark;
  credential.issuer_mark = entry.key_mark;
  if (!is_safe_file_name(config.name)) {
    reader.add(entry.key_mark,
               "credential name " + in_quotes(config.name) + " cannot be used as a folder name",
               "use only letters, digits, '.', '_' and '-', not starting with '.'");
  }
  std::vector<std::string> keys = credential_keys();
  for (auto& k : issuers.credential_keys()) keys.push_back(std::move(k));
  const auto fields = reader.fields(
      *entry.value, entry.value_mark, "credential " + in_quotes(config.name), keys,
      "web: { issuer: dev-ca, sans: [\"DNS:web.example.internal\"] }");
  if (!fields) return std::nullopt;
  read_issuer_key(*fields, reader, issuers, credential);

  if (const Field* f = fields->get("issuer")) {
    if (auto name = reader.string(*f)) config.issuer = *name;
    credential.issuer_mark = f->value_mark;
  } else {
    reader.add(entry.key_mark, "credential " + in_quotes(config.name) + " names no issuer",
               "write issuer: <the name of an entry under issuers:>");
  }
  const std::size_t problems_before = reader.problems().count();
  if (const Field* f = fields->get("subject")) read_subject(*f, reader, config.request.subject);
  if (const Field* f = fields->get("sans")) read_sans(*f, reader, config.request.sans);
  if (const Field* f = fields->get("usage")) read_usages(*f, reader, config.request.usages);
  // Only when nothing above was wrong already: a bad SAN should not also read as "no SAN".
  // Reported by the loader once the issuer's type is known: some issuers decide the names.
  if (config.request.subject.common_name.empty() && config.request.sans.empty() &&
      reader.problems().count() == problems_before) {
    const Field* where = fields->get("sans") ? fields->get("sans") : fields->get("subject");
    credential.no_names_mark = where ? where->key_mark : entry.key_mark;
  }

  apply_tunables(overlay(defaults, read_tunables(*fields, reader)), entry.key_mark, reader,
                 credential);
  // The issuer makes the key its settings name; asking for another could never validate.
  if (config.issuer_options && config.issuer_options->key()) {
    config.key = *config.issuer_options->key();
  }

  if (const Field* f = fields->get("key_passphrase_file")) {
    if (auto p = reader.path(*f)) config.key_passphrase_file = *p;
  }
  if (const Field* f = fields->get("on_rotate")) read_on_rotate(*f, reader, config.on_rotate);
  if (const Field* f = fields->get("notify")) read_on_rotate(*f, reader, config.notify);
  if (const Field* f = fields->get("activation")) read_activation(*f, reader, credential);
  if (const Field* f = fields->get("on_staged")) {
    credential.on_staged_mark = f->key_mark;
    read_on_staged(*f, reader, config);
  }
  read_output(fields->get("output"), reader, state_dir, credential);
  return credential;
}

}  // namespace certrotd::config::detail
