extension ConfigFile {
    /// Why `text` cannot be TOML, found before toml++ sees it, with the line; nil if nothing is.
    ///
    /// toml++ (inside TOMLKit) assumes its caller checked that a key starts where it expects one:
    /// `[)server]`, `[+server]`, `[[é]]` or `a.é = 1` trip an assertion, which ends the process in a
    /// debug build and is undefined behaviour in a release one (found by the `config` fuzz target;
    /// the inputs are in `Fuzz/corpus/config`). Outside strings and comments this refuses what TOML
    /// 1.0 never allows: a character that is not ASCII, and where a key must start (a table header,
    /// after a dot, in an inline table) anything but a bare-key character or a quote.
    static func screen(_ text: String) -> (line: Int, message: String)? {
        enum State { case normal, comment, basic, literal, multilineBasic, multilineLiteral }
        enum Expect { case lineStart, headerStart, key, keyOrClose, value }
        let scalars = Array(text.unicodeScalars)
        var state = State.normal
        var line = 1
        var i = 0
        var expecting: Expect? = .lineStart
        var inHeader = false
        /// Open arrays (`[`) and inline tables (`{`) of the current value.
        var nesting: [Unicode.Scalar] = []
        func tripled(_ quote: Unicode.Scalar) -> Bool {
            i + 2 < scalars.count && scalars[i] == quote && scalars[i + 1] == quote && scalars[i + 2] == quote
        }
        func isKeyStart(_ c: Unicode.Scalar) -> Bool {
            let v = c.value
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || c == "_" || c == "-" || c == "\"" || c == "'"
        }
        func allowed(_ c: Unicode.Scalar, _ expect: Expect) -> Bool {
            switch expect {
            case .key: return isKeyStart(c)
            case .headerStart: return isKeyStart(c) || c == "["
            case .keyOrClose: return isKeyStart(c) || c == "}"
            case .lineStart:
                if nesting.last == "[" { return allowed(c, .value) }
                return isKeyStart(c) || c == "[" || c == "#" || c == "\r" || c == "\n"
            case .value: return isKeyStart(c) || "+[{]#\r\n".unicodeScalars.contains(c)
            }
        }
        func isDigit(_ j: Int) -> Bool { j < scalars.count && scalars[j].value >= 0x30 && scalars[j].value <= 0x39 }
        func isDigits(_ range: Range<Int>) -> Bool { range.allSatisfy(isDigit) }
        /// toml++ asserts that a time follows `YYYY-MM-DDT` and that digits follow `HH:` and
        /// `HH:MM:` (a value that starts like a date or a time and then is not one).
        func dateTimeProblem(at j: Int) -> String? {
            var t = j
            if isDigits(j..<j + 4), j + 4 < scalars.count, scalars[j + 4] == "-", isDigits(j + 5..<j + 7), j + 7 < scalars.count,
                scalars[j + 7] == "-", isDigits(j + 8..<j + 10)
            {
                guard j + 10 < scalars.count, "Tt ".unicodeScalars.contains(scalars[j + 10]) else { return nil }
                if scalars[j + 10] == " " && !isDigit(j + 11) { return nil }
                t = j + 11
                guard isDigits(t..<t + 2) else { return "a date followed by T but no time" }
            }
            guard isDigits(t..<t + 2), t + 2 < scalars.count, scalars[t + 2] == ":" else { return nil }
            guard isDigits(t + 3..<t + 5) else { return "a time whose minutes are not two digits" }
            guard t + 5 < scalars.count, scalars[t + 5] == ":" else { return nil }
            guard isDigits(t + 6..<t + 8) else { return "a time whose seconds are not two digits" }
            return nil
        }
        while i < scalars.count {
            let c = scalars[i]
            switch state {
            case .normal:
                if let expect = expecting, c != " ", c != "\t" {
                    guard c.isASCII, allowed(c, expect) else {
                        let place =
                            switch expect {
                            case .lineStart: "at the start of a line"
                            case .headerStart, .key, .keyOrClose: "where a key must start"
                            case .value: "where a value must start"
                            }
                        return (line, "'\(c.escaped(asASCII: true))' \(place)")
                    }
                    expecting = nil
                    if expect == .value, let problem = dateTimeProblem(at: i) { return (line, problem) }
                    if expect == .lineStart, c == "[", nesting.isEmpty {
                        inHeader = true
                        expecting = .headerStart
                        break
                    }
                    if expect == .headerStart, c == "[" {
                        expecting = .key
                        break
                    }
                }
                switch c {
                case "\n":
                    expecting = .lineStart
                    inHeader = false
                case "[":
                    if !inHeader {
                        nesting.append("[")
                        expecting = .value
                    }
                case "{":
                    nesting.append("{")
                    expecting = .keyOrClose
                case "]", "}":
                    if !inHeader, !nesting.isEmpty { nesting.removeLast() }
                case ".": expecting = .key
                case ",": expecting = nesting.last == "{" ? .key : .value
                case "=": expecting = .value
                case "#": state = .comment
                case "\"":
                    if tripled("\"") {
                        state = .multilineBasic
                        i += 2
                    } else {
                        state = .basic
                    }
                case "'":
                    if tripled("'") {
                        state = .multilineLiteral
                        i += 2
                    } else {
                        state = .literal
                    }
                default:
                    if !c.isASCII { return (line, "a character that is not ASCII outside a string or comment") }
                }
            case .comment:
                if c == "\n" {
                    state = .normal
                    expecting = .lineStart
                    inHeader = false
                }
            case .basic:
                if c == "\\" {
                    i += 1
                } else if c == "\"" || c == "\n" {
                    state = .normal
                    if c == "\n" { expecting = .lineStart }
                }
            case .literal:
                if c == "'" || c == "\n" {
                    state = .normal
                    if c == "\n" { expecting = .lineStart }
                }
            case .multilineBasic:
                if c == "\\" {
                    i += 1
                    if i < scalars.count, scalars[i] == "\n" { line += 1 }
                } else if tripled("\"") {
                    state = .normal
                    i += 2
                }
            case .multilineLiteral:
                if tripled("'") {
                    state = .normal
                    i += 2
                }
            }
            if c == "\n" { line += 1 }
            i += 1
        }
        return nil
    }
}
