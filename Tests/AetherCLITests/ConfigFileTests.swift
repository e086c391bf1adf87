import AFSConfig
import Testing

/// The configuration reader: full TOML (TOMLKit), flattened to `section.key`, scalars only.
@Suite struct ConfigFileTests {
    @Test func tomlIsFlattenedToDottedKeys() throws {
        let file = try ConfigFile(text: """
            # afs-server
            [server]
            http = "0.0.0.0:8787"   # a comment after a value
            max_file_bytes = 1_000_000
            trust_forwarded = true
            rate = 2.5
            tls_cert = 'C:\\certs\\server.pem'
            motd = \"\"\"
            two
            lines\"\"\"

            [storage]
            objects = "s3://bucket?endpoint=http://127.0.0.1:8333&region=us-east-1"
            limits = { sessions = 10 }
            """)
        #expect(file["server.http"] == "0.0.0.0:8787")
        #expect(file["server.max_file_bytes"] == "1000000")
        #expect(file["server.trust_forwarded"] == "true")
        #expect(file["server.rate"] == "2.5")
        #expect(file["server.tls_cert"] == "C:\\certs\\server.pem")
        #expect(file["server.motd"] == "two\nlines")
        #expect(file["storage.objects"]?.hasPrefix("s3://bucket?") == true)
        #expect(file["storage.limits.sessions"] == "10")
        #expect(file["server.missing"] == nil)
    }

    @Test func badFilesAreRefusedWithTheLineOrTheKey() throws {
        let broken = #expect(throws: ConfigFile.ParseError.self) { try ConfigFile(text: "[server]\nport = 80\nport = 81\n") }
        #expect(broken?.line == 3, "\(String(describing: broken))")
        let unterminated = #expect(throws: ConfigFile.ParseError.self) { try ConfigFile(text: "[bridge]\ntoken = \"abc\n") }
        #expect(unterminated?.line == 2)
        let array = #expect(throws: ConfigFile.ParseError.self) { try ConfigFile(text: "[server]\nports = [1, 2]\n") }
        #expect(array?.description.contains("server.ports") == true)
        #expect(throws: ConfigFile.ParseError.self) { try ConfigFile(path: "/nonexistent/config.toml") }
    }

    /// Found by the `config` fuzz target (its inputs are in Fuzz/corpus/config): a key that starts
    /// with a character TOML does not allow there made toml++ assert, ending the process. Such
    /// files are refused with their line; strings and comments may hold anything.
    @Test func keysThatCannotStartAreRefusedNotACrash() throws {
        let cases: [(String, Int)] = [
            ("# é\n[[\u{FFFD}array.of.tables]]\nx = 1\n", 2), ("a.é = 1\n", 1), ("[é]\n", 1), ("[)server]\ndata = 1\n", 1),
            ("k = \"x\"\n\n  é = 2\n", 3), ("a = { ;b = 1 }\n", 1), ("[a. !b]\n", 1),
            ("x = 1979-05-27Tcache_b07:32:00Z\n", 1), ("x = 07:x\n", 1), ("x = [1979-05-27T07:3]\n", 1),
        ]
        for (text, line) in cases {
            let refused = #expect(throws: ConfigFile.ParseError.self) { try ConfigFile(text: text) }
            #expect(refused?.line == line, "\(text): \(String(describing: refused))")
        }
        let text = #"""
            # ünïcode comment
            [server]
            name = "café \"quoted\" é"
            raw = 'naïve'
            long = """
            multi é
            line"""
            lit = '''
            multi ü
            '''
            after = 1 # é
            pi = 3.14
            [a."b.c".d]
            x = -1
            """#
        let fine = try ConfigFile(text: text)
        #expect(fine["server.name"] == "café \"quoted\" é" && fine["server.raw"] == "naïve" && fine["server.after"] == "1")
        #expect(fine["server.long"] == "multi é\nline" && fine["server.lit"] == "multi ü\n" && fine["server.pi"] == "3.14")
        #expect(fine["a.b.c.d.x"] == "-1")
        // Well-formed dates and times pass the screening and reach toml++ (which parses them; a
        // setting is never one, so the file is refused for that, naming the key).
        for value in ["1979-05-27", "1979-05-27T07:32:00Z", "1979-05-27 07:32:00", "07:32:00"] {
            let typed = #expect(throws: ConfigFile.ParseError.self) { try ConfigFile(text: "when = \(value)\n") }
            #expect(typed?.message.contains("when is a") == true, "\(value): \(String(describing: typed))")
        }
    }
}
