@testable import Runtime
import Testing

@Suite struct ExecEnvironmentTests {
    @Test(arguments: [
        ([String](), ["A=1"], ["A=1"]),
        (["PATH=/bin", "A=0"], ["A=1", "B=2"], ["PATH=/bin", "A=1", "B=2"]),
        (["A=0"], ["A=1", "A=2"], ["A=2"]),
        (["A=0=x"], ["A"], ["A"]),
    ])
    func execEntriesReplaceTheContainersByKey(base: [String], overrides: [String], expected: [String]) {
        #expect(Container.mergeEnvironment(base, overrides) == expected)
    }
}
