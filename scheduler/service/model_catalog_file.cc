#include "scheduler/service/model_catalog_file.h"

#include <exception>
#include <set>

#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace genfarm::scheduler {
namespace {

absl::Status Error(const std::string& path, const std::string& where, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", where, ": ", why));
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<v1::ModelInfo>> ReadModelCatalogFile(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {  // yaml-cpp reports with exceptions
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  if (!root.IsMap() || !root["models"] || !root["models"].IsSequence()) {
    return Error(path, "models", "expected a list of models");
  }
  const YAML::Node list = root["models"];
  if (list.size() > static_cast<size_t>(kMaxCatalogFileModels)) {
    return Error(path, "models", absl::StrCat("at most ", kMaxCatalogFileModels, " models"));
  }
  std::vector<v1::ModelInfo> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node m = list[i];
    const std::string where = absl::StrCat("models[", i, "]");
    if (!m.IsMap()) return Error(path, where, "expected a map");
    v1::ModelInfo info;
    try {
      for (const auto& kv : m) {
        const std::string key = kv.first.as<std::string>();
        if (key == "name") {
          info.set_name(kv.second.as<std::string>());
        } else if (key == "kind") {
          info.set_kind(kv.second.as<std::string>());
        } else if (key == "window_before") {
          info.set_window_before(kv.second.as<int32_t>());
        } else if (key == "window_after") {
          info.set_window_after(kv.second.as<int32_t>());
        } else {
          return Error(path, absl::StrCat(where, ".", key),
                       "unknown field (name, kind, window_before, window_after)");
        }
      }
    } catch (const std::exception& e) {
      return Error(path, where, e.what());
    }
    if (!ValidName(info.name())) {
      return Error(path, where + ".name", "1-128 characters of [A-Za-z0-9._-]");
    }
    if (!seen.insert(info.name()).second) {
      return Error(path, where + ".name", absl::StrCat("'", info.name(), "' is listed twice"));
    }
    if (!ValidName(info.kind())) return Error(path, where + ".kind", "required, e.g. upscale");
    if (info.window_before() < 0 || info.window_before() > 64) {
      return Error(path, where + ".window_before",
                   absl::StrCat("must be between 0 and 64, got ", info.window_before()));
    }
    if (info.window_after() < 0 || info.window_after() > 64) {
      return Error(path, where + ".window_after",
                   absl::StrCat("must be between 0 and 64, got ", info.window_after()));
    }
    info.set_version("catalog-file");
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace genfarm::scheduler
