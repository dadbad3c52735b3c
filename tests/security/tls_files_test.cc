#include "common/tls/tls_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/tls/certificate_info.h"
#include "tests/security/security_test_util.h"

namespace genfarm::tls {
namespace {

using ::genfarm::testing::MakeTestCert;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class TlsFilesTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_.File(name);
    std::ofstream(path) << text;
    return path;
  }

  genfarm::testing::ScopedTempDir dir_;
};

TEST_F(TlsFilesTest, ReadsAMatchingCertificateKeyAndCa) {
  auto server = MakeTestCert("genfarm-scheduler", "", 1);
  auto ca = MakeTestCert("GenFarm farm CA", "", 2);
  TlsFiles files;
  files.cert = {"--tls_cert", Write("server.pem", server.cert_pem)};
  files.key = {"--tls_key", Write("server.key", server.key_pem)};
  files.ca = {"--tls_client_ca", Write("ca.pem", ca.cert_pem)};
  auto pem = LoadTlsFiles(files);
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_TRUE(pem->has_identity());
  EXPECT_EQ(pem->cert_chain, server.cert_pem);
  EXPECT_EQ(pem->private_key, server.key_pem);
  EXPECT_EQ(pem->ca, ca.cert_pem);
  EXPECT_EQ(pem->cert_path, files.cert.path);
}

TEST_F(TlsFilesTest, NothingGivenIsPlaintext) {
  auto pem = LoadTlsFiles(TlsFiles{});
  ASSERT_TRUE(pem.ok());
  EXPECT_FALSE(pem->enabled());
}

TEST_F(TlsFilesTest, ErrorsNameTheFlagAndTheFile) {
  auto server = MakeTestCert("s", "", 1);
  auto other = MakeTestCert("o", "", 2);
  TlsFiles files;
  files.cert = {"--tls_cert", Write("server.pem", server.cert_pem)};
  auto alone = LoadTlsFiles(files);
  EXPECT_THAT(std::string(alone.status().message()),
              HasSubstr("--tls_cert is given without --tls_key"));

  files.key = {"--tls_key", dir_.File("missing.key")};
  auto missing = LoadTlsFiles(files);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("--tls_key " + files.key.path + ": No such file"));

  files.key = {"--tls_key", Write("swapped.key", server.cert_pem)};
  EXPECT_THAT(std::string(LoadTlsFiles(files).status().message()),
              HasSubstr("no PEM PRIVATE KEY block"));

  files.key = {"--tls_key", Write("other.key", other.key_pem)};
  EXPECT_THAT(std::string(LoadTlsFiles(files).status().message()),
              HasSubstr("is not the private key of --tls_cert"));

  TlsFiles ca_only;
  ca_only.ca = {"--tls_ca", Write("ca.pem", "hello")};
  EXPECT_THAT(std::string(LoadTlsFiles(ca_only).status().message()),
              HasSubstr("--tls_ca " + ca_only.ca.path + ": no PEM CERTIFICATE block"));
}

TEST(CertificateInfoTest, ReadsNameUnitsAndSerial) {
  auto cert = ParseCertificate(MakeTestCert("w1", "genfarm-worker", 0x1a2b).cert_pem);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(cert->common_name, "w1");
  EXPECT_THAT(cert->organizational_units, ElementsAre("genfarm-worker"));
  EXPECT_TRUE(cert->HasUnit(kWorkerUnit));
  EXPECT_FALSE(cert->HasUnit(kUserUnit));
  EXPECT_EQ(cert->serial_hex, "1a2b");
  EXPECT_GT(cert->not_after, absl::FromCivil(absl::CivilDay(2020, 1, 1), absl::UTCTimeZone()));
  EXPECT_FALSE(ParseCertificate("not a certificate").ok());
}

}  // namespace
}  // namespace genfarm::tls
