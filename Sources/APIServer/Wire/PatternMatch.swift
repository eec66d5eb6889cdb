#if canImport(Glibc)
import Glibc
#endif

/// Regular expressions for filters that moby matches with Go's `regexp` (`name` of volumes):
/// POSIX extended expressions, which agree with RE2 on the patterns clients send.
enum PatternMatch {
    /// Whether `pattern` matches anywhere in `text`; a pattern that does not compile matches
    /// nothing (moby skips it).
    static func extendedRegex(_ pattern: String, _ text: String) -> Bool {
        var expression = regex_t()
        guard regcomp(&expression, pattern, REG_EXTENDED | REG_NOSUB) == 0 else { return false }
        defer { regfree(&expression) }
        return regexec(&expression, text, 0, nil, 0) == 0
    }
}
