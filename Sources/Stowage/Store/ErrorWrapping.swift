import Glibc

/// Every failure of a layer below the store, named as the engine's `StoreError`.
extension StoreError {
    /// Passes a `StoreError` through; names LMDB, I/O and record errors.
    static func wrapping(_ error: Error, _ context: String) -> StoreError {
        switch error {
        case let error as StoreError:
            return error
        case IndexBackendError.closed:
            return StoreError(.closed, "The store is closed")
        case IndexBackendError.notApplied:
            return StoreError(.index, "\(context): the mutation was never applied")
        case let error as LMDBError where error.code == ENOSPC || error.code == EDQUOT:
            return StoreError(.diskFull, "No space left on the device holding the index during \(context)", cause: error)
        case let error as LMDBError where error.code == LMDBError.mapFull:
            return StoreError(.indexFull, "The index is full (LMDB map size reached) during \(context); raise the map size", cause: error)
        case let error as LMDBError:
            return StoreError(.index, "\(context): \(error)", cause: error)
        case let error as IOError:
            return error.storeError
        case let error as RecordError:
            return StoreError(.corrupt, "\(context): \(error)", cause: error)
        case let error as EtcdError:
            switch error.kind {
            case .unavailable, .ambiguous, .compacted:
                return StoreError(.unavailable, "The cluster's index did not answer during \(context): \(error.message)", cause: error)
            case .tooLarge:
                return StoreError(.transactionTooLarge, "\(context) is larger than the cluster's index takes in one transaction: \(error.message)", cause: error)
            case .refused:
                return StoreError(.index, "\(context): \(error)", cause: error)
            }
        case let error as RadosError where error.isFull:
            return StoreError(.diskFull, "The cluster's RADOS pool is full (or over its quota) during \(context); deleting objects frees space: \(error)", cause: error)
        case let error as RadosError where error.isUnavailable:
            return StoreError(.unavailable, "The cluster's object pool did not answer during \(context): \(error)", cause: error)
        case let error as RadosError:
            return StoreError(.io, "\(context): \(error)", cause: error)
        default:
            return StoreError(.io, "\(context): \(error)")
        }
    }
}
