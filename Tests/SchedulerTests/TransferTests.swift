import Testing
@testable import Scheduler

@Suite struct TransferTests {
    @Test func sizesAndBarsAsDockerPrintsThem() {
        #expect(humanSize(0) == "0B" && humanSize(512) == "512B")
        #expect(humanSize(36_450) == "36.45kB" && humanSize(1_069_000) == "1.069MB" && humanSize(1_000_000) == "1MB")
        #expect(humanSize(123_456_789) == "123.5MB" && humanSize(5_000_000_000) == "5GB")
        #expect(transferBar(0, 100) == "[>" + String(repeating: " ", count: 50) + "]  0B/100B")
        #expect(transferBar(100, 100) == "[" + String(repeating: "=", count: 50) + ">]  100B/100B")
        #expect(transferBar(36_450, 1_069_000).hasPrefix("[=>" + String(repeating: " ", count: 49) + "]  36.45kB/1.069MB"))
    }

    @Test func pullPolicyDurations() {
        #expect(Orchestrator.duration("12h") == 43_200)
        let expected: Int64 = 788_645
        #expect(Orchestrator.duration("1w2d3h4m5s") == expected)
        #expect(Orchestrator.duration("") == nil && Orchestrator.duration("12") == nil && Orchestrator.duration("3x") == nil)
    }
}
