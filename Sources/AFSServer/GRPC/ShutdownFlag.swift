import AFSSupport

/// Raised once when the server begins a graceful shutdown. Live subscriptions (changefeed, bus)
/// would otherwise keep their RPCs open forever and gRPC's graceful shutdown, which waits for open
/// RPCs, would never finish; they check this flag between polls and end their streams instead.
typealias ShutdownFlag = OnceFlag
