extension Duration {
    /// The duration in seconds, as a `Double`: for the APIs that take a `TimeInterval`
    /// (`Thread.sleep`, `DispatchTime`) and for arithmetic with a monotonic clock's readings.
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
