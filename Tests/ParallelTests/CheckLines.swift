import XCTest

/// One `rank=R size=S check=NAME ok=1 key=value ...` line of parallel-check's output.
struct CheckLine {
    var rank: Int
    var size: Int
    var check: String
    var ok: Bool
    var fields: [String: String]

    /// The `value=` field as numbers.
    var values: [Double] { (fields["value"] ?? "").split(separator: ",").compactMap { Double($0) } }

    /// Parses a line; `error=` runs to the end of the line (MPI's text has spaces).
    init?(_ line: Substring) {
        var fields: [String: String] = [:]
        var rest = line[...]
        if let range = rest.range(of: " error=") {
            fields["error"] = String(rest[range.upperBound...])
            rest = rest[..<range.lowerBound]
        }
        for pair in rest.split(separator: " ") {
            guard let eq = pair.firstIndex(of: "=") else { return nil }
            fields[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        guard let rank = fields["rank"].flatMap({ Int($0) }), let size = fields["size"].flatMap({ Int($0) }),
              let check = fields["check"], let ok = fields["ok"] else { return nil }
        (self.rank, self.size, self.check, self.ok, self.fields) = (rank, size, check, ok == "1", fields)
    }

    /// Every check line of an output, by rank then check name; fails the test on duplicates.
    static func parse(_ output: String, file: StaticString = #filePath, line: UInt = #line) -> [Int: [String: CheckLine]] {
        var result: [Int: [String: CheckLine]] = [:]
        for text in output.split(separator: "\n") where text.hasPrefix("rank=") {
            guard let parsed = CheckLine(text) else {
                XCTFail("unparsable line: \(text)", file: file, line: line)
                continue
            }
            XCTAssertNil(result[parsed.rank]?[parsed.check], "duplicate \(parsed.check) on rank \(parsed.rank)", file: file, line: line)
            result[parsed.rank, default: [:]][parsed.check] = parsed
        }
        return result
    }
}

/// Parses `key: value` lines of `gpt-dist doctor` (the first colon ends the key).
func doctorFields(_ output: String) -> [String: String] {
    var fields: [String: String] = [:]
    for line in output.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let key = line[..<colon].trimmingCharacters(in: .whitespaces)
        fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return fields
}
