import CMPI

// The one place Swift-side names become MPI handles.

extension CollectiveDatatype {
    /// The predefined MPI datatype with this layout.
    var mpi: MPI_Datatype {
        switch self {
        case .float32: return cmpi_float()
        case .float64: return cmpi_double()
        case .int32: return cmpi_int32()
        case .int64: return cmpi_int64()
        case .uint64: return cmpi_uint64()
        }
    }
}

extension ReductionOp {
    /// The MPI operation that computes this reduction (average is a sum, divided afterwards).
    var mpi: MPI_Op {
        switch self {
        case .sum, .average: return cmpi_op_sum()
        case .max: return cmpi_op_max()
        case .min: return cmpi_op_min()
        }
    }
}
