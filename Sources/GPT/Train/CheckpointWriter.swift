import Foundation
import HDF5

extension Checkpoint {
    /// Writes the AdamW moments of one part of the flat buffers: its range, then `m` and `v`
    /// of that range.
    public typealias MomentWriter = (Range<Int>, UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>) throws -> Void

    /// Writes a checkpoint of `model` (and `optimizer`, `config`, `state`, `tokenizer`) to `path`
    /// atomically: everything goes to `path.tmp`, which is flushed to disk (fsync) and then
    /// renamed over `path`, so a crash mid-save leaves the previous checkpoint whole.
    ///
    /// The moments are whole tensors on disk whatever the rank count. `moments` hands them over
    /// part by part (each rank's shard under ZeRO stage 1, see `MomentShards`); without it the
    /// optimizer's own moments are written, which must then cover every parameter.
    ///
    /// With LoRA the adapters go to `/lora` (`loraBase`: the base model's path, when known) and
    /// the moments, which are then the adapters', to `/lora/exp_avg` and `/lora/exp_avg_sq`.
    public static func write(to path: String, model: GPTModel, optimizer: AdamW?, config: TrainConfig,
                             state: TrainingState?, tokenizer: (any Tokenizer)?,
                             moments: ((MomentWriter) throws -> Void)? = nil, loraBase: String? = nil) throws {
        let adapters = model.lora.map { Adapters(layout: $0.layout, parameters: UnsafeBufferPointer($0.parameters), baseModel: loraBase) }
        try write(to: path, parameters: UnsafeBufferPointer(model.parameters), layout: model.layout, optimizer: optimizer,
                  config: config, state: state, tokenizer: tokenizer, moments: moments, adapters: adapters)
    }

    /// LoRA adapters to write beside the model.
    public struct Adapters {
        public var layout: LoRALayout
        public var parameters: UnsafeBufferPointer<Float>
        public var baseModel: String?

        public init(layout: LoRALayout, parameters: UnsafeBufferPointer<Float>, baseModel: String?) {
            self.layout = layout
            self.parameters = parameters
            self.baseModel = baseModel
        }
    }

    /// Puts rows `rows` (along the first dimension, row-major) of `tensor` at the start of
    /// `destination`; runs on a second thread while the rows before are written.
    public typealias TensorRows = (_ tensor: TensorView, _ rows: Range<Int>, _ destination: UnsafeMutableBufferPointer<Float>) -> Void

    /// Writes a checkpoint of the flat `parameters` laid out by `layout` (a model that is not
    /// built, e.g. one imported from another format); otherwise as `write(to:model:...)`.
    public static func write(to path: String, parameters: UnsafeBufferPointer<Float>, layout: ParameterLayout,
                             optimizer: AdamW?, config: TrainConfig, state: TrainingState?, tokenizer: (any Tokenizer)?,
                             moments: ((MomentWriter) throws -> Void)? = nil, adapters: Adapters? = nil) throws {
        try write(to: path, tensors: rows(of: parameters), layout: layout, optimizer: optimizer, config: config,
                  state: state, tokenizer: tokenizer, moments: moments, adapters: adapters)
    }

    /// Writes a checkpoint whose model tensors `tensors` hands over a part at a time (a model
    /// converted as it is written, e.g. imported from another format, without a flat buffer of
    /// it); otherwise as `write(to:parameters:...)`.
    public static func write(to path: String, tensors: @escaping TensorRows, layout: ParameterLayout,
                             optimizer: AdamW?, config: TrainConfig, state: TrainingState?, tokenizer: (any Tokenizer)?,
                             moments: ((MomentWriter) throws -> Void)? = nil, adapters: Adapters? = nil) throws {
        let temporary = temporaryPath(for: path)
        unlink(temporary)
        do {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            let file = try H5File.create(at: temporary, mode: .truncate, checksums: true)
            let writeback = EarlyWriteback(path: temporary)
            try file.setAttribute("format", format)
            try file.setAttribute("format_version", formatVersion)
            try writeTensors(tensors, layout: layout, into: file.createGroup("model"), writeback: writeback)
            try file.link(target: "/model/transformer.wte.weight", as: "/model/lm_head.weight")
            var loraGroup: H5Group?
            if let adapters {
                let group = try file.createGroup("lora")
                let lora = adapters.layout.lora
                try group.setAttribute("rank", lora.rank)
                try group.setAttribute("alpha", lora.alpha)
                try group.setAttribute("dropout", lora.dropout)
                try group.setAttribute("targets", lora.targetList)
                try group.setAttribute("scale", Double(lora.scale))
                try group.setAttribute("base_model", adapters.baseModel ?? "")
                try writeTensors(rows(of: adapters.parameters), layout: adapters.layout, into: group.createGroup("adapters"),
                                 writeback: writeback)
                loraGroup = group
            }
            if let optimizer {
                // The moments of what trained: the adapters' (under /lora) when the base was frozen.
                let momentLayout: any FlatLayout = adapters?.layout ?? layout
                let momentGroup = loraGroup
                let group = try file.createGroup("optimizer")
                try group.setAttribute("step", optimizer.stepCount)
                try group.setAttribute("beta1", Double(optimizer.beta1))
                try group.setAttribute("beta2", Double(optimizer.beta2))
                try group.setAttribute("eps", Double(optimizer.eps))
                try group.setAttribute("weight_decay", Double(optimizer.weightDecay))
                let first = try createTensors(layout: momentLayout, into: (momentGroup ?? group).createGroup("exp_avg"))
                let second = try createTensors(layout: momentLayout, into: (momentGroup ?? group).createGroup("exp_avg_sq"))
                let writeMoments: MomentWriter = { range, m, v in
                    try Checkpoint.writePart(m, of: range, layout: momentLayout, into: first)
                    try Checkpoint.writePart(v, of: range, layout: momentLayout, into: second)
                    writeback.wrote(bytes: 2 * range.count * MemoryLayout<Float>.size)
                }
                if let moments {
                    try moments(writeMoments)
                } else {
                    precondition(optimizer.ranges == [0..<momentLayout.count], "pass `moments` for an optimizer of one shard")
                    try writeMoments(0..<momentLayout.count, UnsafeBufferPointer(optimizer.m), UnsafeBufferPointer(optimizer.v))
                }
            }
            try writeSettings(config, into: file.createGroup("config"))
            if let state {
                let group = try file.createGroup("state")
                try group.setAttribute("iter_num", state.iteration)
                try group.setAttribute("best_val_loss", state.bestValLoss)
                try group.setAttribute("seed", state.seed)
                try group.setAttribute("world_size", state.worldSize)
                if let stream = state.dataStream {
                    try group.createDataset("data_stream", values: stream.state)
                }
                try group.setAttribute("dropout_stream", "counter-based: masks are a function of (seed, iter_num, micro-step)")
            }
            if let tokenizer {
                try TokenizerStore.save(tokenizer, in: file.createGroup("tokenizer"))
            }
            try file.flush()
            file.close()
            try syncToDisk(temporary)
            guard rename(temporary, path) == 0 else {
                throw CheckpointError.writeFailed(path: path, reason: "rename from \(temporary): \(String(cString: strerror(errno)))")
            }
            // Make the rename itself durable.
            if let handle = FileHandle(forReadingAtPath: directory.isEmpty ? "." : directory) {
                fsync(handle.fileDescriptor)
                try? handle.close()
            }
        } catch let error as CheckpointError {
            unlink(temporary)
            throw error
        } catch {
            unlink(temporary)
            throw CheckpointError.writeFailed(path: path, reason: "\(error)")
        }
    }

    /// The file a save of `path` writes before renaming it over `path`.
    public static func temporaryPath(for path: String) -> String { path + ".tmp" }

    /// One float32 dataset per tensor of `layout`, in PyTorch's shape, from the flat `buffer`
    /// (Fletcher-32 chunks checksummed here and written as stored: `ChecksummedChunks`).
    static func writeTensors(_ tensors: @escaping TensorRows, layout: any FlatLayout, into group: H5Group,
                             writeback: EarlyWriteback? = nil) throws {
        let chunks = ChecksummedChunks()
        for tensor in layout.tensors {
            let dataset = try group.createDataset(tensor.name, of: Float.self, shape: tensor.shape)
            let columns = tensor.count / max(1, tensor.shape.first ?? 1)
            try chunks.write(Float.self, to: dataset) { rows, destination in
                tensors(tensor, rows, destination)
                // The chunk before this one is being written: start the disk on what came before.
                writeback?.wrote(bytes: rows.count * columns * MemoryLayout<Float>.size)
            }
        }
    }

    /// The rows of each tensor of the flat `buffer` (laid out by the layout written).
    static func rows(of buffer: UnsafeBufferPointer<Float>) -> TensorRows {
        { tensor, rows, destination in
            let columns = tensor.count / max(1, tensor.shape.first ?? 1)
            let part = buffer[(tensor.offset + rows.lowerBound * columns)..<(tensor.offset + rows.upperBound * columns)]
            _ = destination.initialize(from: UnsafeBufferPointer(rebasing: part))
        }
    }

    /// Starts the disk writes of a file being written while it is written, so the fsync at the
    /// end waits for the last part only instead of all of it (the writes overlap the rest of
    /// the save: converting, checksumming, the next tensors).
    ///
    /// Every `stride` bytes written, asks the kernel to write the file's dirty pages back
    /// (`posix_fadvise(POSIX_FADV_DONTNEED)` starts that writeback without waiting, and drops
    /// pages already clean, which a save never reads again). Durability still comes from the
    /// fsync before the rename; this only moves the work earlier.
    final class EarlyWriteback {
        private let fd: Int32
        private let stride: Int
        private var pending = 0
        /// Bytes counted up to the last writeback started.
        private var started = 0

        init(path: String, stride: Int = 32 << 20) {
            fd = open(path, O_RDONLY)
            self.stride = stride
        }

        deinit { if fd >= 0 { close(fd) } }

        /// Counts `bytes` more written; starts the writeback each time `stride` bytes add up.
        func wrote(bytes: Int) {
            pending += bytes
            guard pending >= stride, fd >= 0 else { return }
            // From a stride before the last start to the end: the file grows about as it is counted.
            _ = posix_fadvise(fd, off_t(max(0, started - stride)), 0, POSIX_FADV_DONTNEED)
            started += pending
            pending = 0
        }
    }

    /// An empty float32 dataset per tensor of `layout`, in PyTorch's shape.
    static func createTensors(layout: any FlatLayout, into group: H5Group) throws -> [H5Dataset] {
        try layout.tensors.map { try group.createDataset($0.name, of: Float.self, shape: $0.shape) }
    }

    /// Writes the values of flat indices `range` (`part[i]` is index `range.lowerBound + i`) into
    /// the datasets of the tensors they belong to (made by `createTensors`): a row-aligned
    /// middle in one block, a partial first and last row apart.
    static func writePart(_ part: UnsafeBufferPointer<Float>, of range: Range<Int>, layout: any FlatLayout,
                          into datasets: [H5Dataset]) throws {
        for (tensor, dataset) in zip(layout.tensors, datasets) {
            let lower = max(tensor.range.lowerBound, range.lowerBound), upper = min(tensor.range.upperBound, range.upperBound)
            if lower >= upper { continue }
            let columns = tensor.shape.count == 2 ? tensor.shape[1] : tensor.count
            var index = lower - tensor.offset  // within the tensor
            let end = upper - tensor.offset
            while index < end {
                let row = index / columns, column = index % columns
                let n: Int
                if column != 0 || end - index < columns {
                    n = min(columns - column, end - index)  // part of one row
                } else {
                    n = (end - index) / columns * columns  // whole rows
                }
                let source = UnsafeBufferPointer(rebasing: part[(tensor.offset + index - range.lowerBound)...].prefix(n))
                if tensor.shape.count == 2 {
                    // n is whole rows or part of one row.
                    let count = n >= columns ? [n / columns, columns] : [1, n]
                    try dataset.write(from: source, start: [row, column], count: count)
                } else {
                    try dataset.write(from: source, start: [index], count: [n])
                }
                index += n
            }
        }
    }

    /// Every setting as an attribute: integers int64, numbers float64, booleans as h5py writes
    /// them (an int8 FALSE/TRUE enum), strings UTF-8.
    static func writeSettings(_ config: TrainConfig, into group: H5Group) throws {
        for (name, value) in config.allValues {
            switch value {
            case .int(let v): try group.setAttribute(name, v)
            case .double(let v): try group.setAttribute(name, v)
            case .bool(let v): try group.setAttribute(name, v)
            case .string(let v): try group.setAttribute(name, v)
            case .null: continue
            }
        }
    }

    /// fsync(2) of a closed file, so its bytes are on disk before the rename publishes it.
    static func syncToDisk(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CheckpointError.writeFailed(path: path, reason: "reopen for fsync: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CheckpointError.writeFailed(path: path, reason: "fsync: \(String(cString: strerror(errno)))") }
    }
}
