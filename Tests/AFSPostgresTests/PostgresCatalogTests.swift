import Testing
@testable import AFSPostgres
