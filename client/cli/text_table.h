// A plain-text table with columns padded to their widest cell, for `genfarm jobs` and
// `genfarm workers`.
//
//   TextTable table({"ID", "NAME", "STATE"});
//   table.AddRow({"17", "sh010_upres", "active"});
//   std::cout << table.Render();
//
// Not thread-safe.
#ifndef GENFARM_CLIENT_CLI_TEXT_TABLE_H_
#define GENFARM_CLIENT_CLI_TEXT_TABLE_H_

#include <string>
#include <vector>

namespace genfarm::client {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : header_(std::move(header)) {}

  // Rows shorter than the header are padded with empty cells; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);

  // Columns separated by two spaces, trailing spaces trimmed, one '\n' per line.
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace genfarm::client

#endif  // GENFARM_CLIENT_CLI_TEXT_TABLE_H_
