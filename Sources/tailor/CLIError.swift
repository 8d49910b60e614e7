// The CLI's one error type. ArgumentParser prints it once as `Error: …` and, unlike `ValidationError`, with no usage
// text: usage belongs to wrong flags (`validate()`), not to a model that is missing or a file that is broken.
// Library errors are thrown as they are; they print the same way.

/// A command failed after its flags were parsed: one line saying what is wrong and what to do.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
