#include "common/tls/certificate_info.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "common/tls/openssl_ptr.h"

namespace genfarm::tls {
namespace {

std::vector<std::string> EntriesOf(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, nid, i)) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char* utf8 = nullptr;
    const int n = ASN1_STRING_to_UTF8(&utf8, data);
    if (n < 0) continue;
    out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
  }
  return out;
}

}  // namespace

bool CertificateInfo::HasUnit(absl::string_view unit) const {
  return std::find(organizational_units.begin(), organizational_units.end(), unit) !=
         organizational_units.end();
}

absl::StatusOr<CertificateInfo> ParseCertificate(absl::string_view pem) {
  OpenSslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  OpenSslPtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return absl::InvalidArgumentError("not a PEM certificate");
  CertificateInfo info;
  X509_NAME* subject = X509_get_subject_name(cert.get());
  std::vector<std::string> cn = EntriesOf(subject, NID_commonName);
  if (cn.size() != 1) {
    return absl::InvalidArgumentError("the certificate's subject must have exactly one CN");
  }
  info.common_name = cn.front();
  info.organizational_units = EntriesOf(subject, NID_organizationalUnitName);
  OpenSslPtr<BIGNUM> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  if (serial != nullptr) {
    OpenSslPtr<char> hex(BN_bn2hex(serial.get()));
    if (hex != nullptr) info.serial_hex = absl::AsciiStrToLower(hex.get());
  }
  struct tm end {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &end) == 1) {
    info.not_after = absl::FromTM(end, absl::UTCTimeZone());
  }
  return info;
}

}  // namespace genfarm::tls
