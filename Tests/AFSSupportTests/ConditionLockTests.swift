import AFSSupport
import Foundation
import Testing

/// The lock with several conditions: a bounded queue whose producers wait on "not full" and
/// whose consumers wait on "not empty", each woken by `signal` alone, hands over every item
/// exactly once (a lost wakeup would hang the test; a double hand-over would change the sum).
@Suite struct ConditionLockTests {
    final class BoundedQueue: @unchecked Sendable {
        // @unchecked: every field is guarded by `lock`.
        static let notEmpty = 0
        static let notFull = 1
        let lock = ConditionLock(conditions: 2)
        var items: [Int] = []
        let capacity: Int
        init(capacity: Int) { self.capacity = capacity }

        func put(_ item: Int) {
            lock.withLock {
                while items.count >= capacity { lock.wait(BoundedQueue.notFull) }
                items.append(item)
                lock.signal(BoundedQueue.notEmpty)
            }
        }

        func take() -> Int {
            lock.withLock {
                while items.isEmpty { lock.wait(BoundedQueue.notEmpty) }
                let item = items.removeFirst()
                lock.signal(BoundedQueue.notFull)
                return item
            }
        }
    }

    @Test func signalsHandEveryItemOverExactlyOnce() async {
        let queue = BoundedQueue(capacity: 3)
        let producers = 4, consumers = 3, perProducer = 3_000
        let total = producers * perProducer
        let taken = Locked<[Int]>([])
        let group = DispatchGroup()
        for p in 0..<producers {
            group.enter()
            Thread {
                for i in 0..<perProducer { queue.put(p * perProducer + i) }
                group.leave()
            }.start()
        }
        // Each consumer takes its share; the shares add up to every item.
        for c in 0..<consumers {
            group.enter()
            let share = total / consumers + (c < total % consumers ? 1 : 0)
            Thread {
                var mine: [Int] = []
                for _ in 0..<share { mine.append(queue.take()) }
                taken.withLock { $0 += mine }
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 60) == .success, "a producer or consumer never woke")
        #expect(taken.withLock { $0.sorted() } == Array(0..<total))
    }

    @Test func aTimedWaitEndsWhenItsTimeRunsOut() {
        let lock = ConditionLock(conditions: 1)
        let start = ContinuousClock.now
        let signalled = lock.withLock { lock.wait(0, timeout: .milliseconds(30)) }
        let waited = ContinuousClock.now - start
        #expect(!signalled)
        #expect(waited >= .milliseconds(30) && waited < .seconds(10))
    }

    @Test func aTimedWaitEndsEarlyWhenSignalled() {
        let gates = Gates()
        let passed = DispatchGroup()
        passed.enter()
        Thread {
            gates.lock.withLock {
                while !gates.open[0] { gates.lock.wait(0, timeout: .seconds(60)) }
            }
            passed.leave()
        }.start()
        Thread.sleep(forTimeInterval: 0.02)
        gates.open(0, all: false)
        #expect(passed.wait(timeout: .now() + 30) == .success, "the signal did not end a 60 s wait")
    }

    /// Two flags guarded by one `ConditionLock`, each with its own condition.
    final class Gates: @unchecked Sendable {
        // @unchecked: the flags are read and written only holding `lock`.
        let lock = ConditionLock(conditions: 2)
        var open = [false, false]

        func pass(_ gate: Int) { lock.withLock { while !open[gate] { lock.wait(gate) } } }
        func open(_ gate: Int, all: Bool) {
            lock.withLock {
                open[gate] = true
                if all { lock.broadcast(gate) } else { lock.signal(gate) }
            }
        }
    }

    @Test func broadcastWakesEveryWaiterOfItsCondition() {
        let gates = Gates()
        let first = DispatchGroup(), second = DispatchGroup()
        for _ in 0..<3 {
            first.enter()
            Thread { gates.pass(0); first.leave() }.start()
        }
        second.enter()
        Thread { gates.pass(1); second.leave() }.start()
        Thread.sleep(forTimeInterval: 0.05)
        gates.open(0, all: true)
        #expect(first.wait(timeout: .now() + 30) == .success, "a broadcast left a waiter asleep")
        #expect(second.wait(timeout: .now() + 0.2) == .timedOut, "the other gate is still shut")
        gates.open(1, all: false)
        #expect(second.wait(timeout: .now() + 30) == .success)
    }
}
