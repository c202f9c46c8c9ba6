import Foundation
import Parallel

extension TrainConfig {
    /// Rejects values that can never work, naming the key and where it was set. Checks that need
    /// the data or the rank count are the other `validate…` functions, which the trainer calls
    /// before any work.
    public func validate(sources: ConfigSources) throws {
        func fail(_ key: String, _ problem: String) -> TrainConfigError {
            .invalidValue(source: sources.source(of: key), key: key, problem: problem)
        }
        func positive(_ key: String, _ value: Int) throws {
            if value < 1 { throw fail(key, "\(value) must be at least 1") }
        }
        func nonNegative(_ key: String, _ value: Int) throws {
            if value < 0 { throw fail(key, "\(value) must not be negative") }
        }
        try positive("n_layer", n_layer)
        try positive("n_head", n_head)
        try positive("n_embd", n_embd)
        if n_embd % n_head != 0 {
            throw TrainConfigError.invalidValue(source: sources.source(ofAny: ["n_embd", "n_head"]), key: "n_embd",
                                                problem: "\(n_embd) is not divisible by n_head \(n_head)")
        }
        try positive("block_size", block_size)
        if !(dropout >= 0 && dropout < 1) { throw fail("dropout", "\(dropout) must be in [0, 1)") }
        if let vocab_size {
            try positive("vocab_size", vocab_size)
            // Token ids are stored as at most uint32 and fed to the model as Int32.
            if vocab_size > Int(Int32.max) { throw fail("vocab_size", "\(vocab_size) is too large") }
        }
        try positive("batch_size", batch_size)
        try positive("gradient_accumulation_steps", gradient_accumulation_steps)
        if data_dir.isEmpty { throw fail("data_dir", "must not be empty") }
        try nonNegative("max_iters", max_iters)
        if !(learning_rate >= 0) { throw fail("learning_rate", "\(learning_rate) must not be negative") }
        if !(min_lr >= 0) { throw fail("min_lr", "\(min_lr) must not be negative") }
        try nonNegative("warmup_iters", warmup_iters)
        try nonNegative("lr_decay_iters", lr_decay_iters)
        if decay_lr && lr_decay_iters == warmup_iters {
            // nanoGPT's get_lr divides by lr_decay_iters - warmup_iters.
            throw TrainConfigError.invalidValue(
                source: sources.source(ofAny: ["lr_decay_iters", "warmup_iters"]), key: "lr_decay_iters",
                problem: "\(lr_decay_iters) equals warmup_iters: the cosine decay would last zero iterations")
        }
        if !(weight_decay >= 0) { throw fail("weight_decay", "\(weight_decay) must not be negative") }
        if !(beta1 >= 0 && beta1 < 1) { throw fail("beta1", "\(beta1) must be in [0, 1)") }
        if !(beta2 >= 0 && beta2 < 1) { throw fail("beta2", "\(beta2) must be in [0, 1)") }
        if !(grad_clip >= 0) { throw fail("grad_clip", "\(grad_clip) must not be negative (0 turns clipping off)") }
        try positive("eval_interval", eval_interval)
        try positive("eval_iters", eval_iters)
        try positive("log_interval", log_interval)
        if init_from.isEmpty { throw fail("init_from", "must be scratch, resume or the path of a checkpoint") }
        if lora_rank < 0 { throw fail("lora_rank", "\(lora_rank) must be 0 (no LoRA) or a positive rank") }
        if !(lora_alpha > 0 && lora_alpha.isFinite) { throw fail("lora_alpha", "\(lora_alpha) must be a positive number (the adapters' output is scaled by lora_alpha / lora_rank)") }
        if !(lora_dropout >= 0 && lora_dropout < 1) { throw fail("lora_dropout", "\(lora_dropout) must be in [0, 1)") }
        if case .failure(let error) = LoRATarget.parse(lora_targets) { throw fail("lora_targets", error.problem) }
        if out_dir.isEmpty { throw fail("out_dir", "must not be empty") }
        try nonNegative("seed", seed)
        try nonNegative("threads", threads)
        if !(bucket_mb >= 0 && bucket_mb.isFinite) {
            throw fail("bucket_mb", "\(bucket_mb) must be a number of megabytes, 0 or more (0 = one exchange after backward)")
        }
        if zero_stage != 0 && zero_stage != 1 { throw fail("zero_stage", "\(zero_stage) must be 0 or 1") }
        if WireFormat(rawValue: grad_reduce_dtype) == nil {
            throw fail("grad_reduce_dtype", "'\(grad_reduce_dtype)' must be float32 or bfloat16")
        }
        for (key, value) in [("skip_loss_zscore", skip_loss_zscore), ("skip_grad_zscore", skip_grad_zscore)]
        where !(value >= 0 && value.isFinite) {
            throw fail(key, "\(value) must be a number of standard deviations, 0 or more (0 = off)")
        }
        try positive("max_skipped_steps", max_skipped_steps)
        try nonNegative("keep_last", keep_last)
        try nonNegative("checkpoint_interval", checkpoint_interval)
        if !(collective_timeout_s >= 0 && collective_timeout_s.isFinite) {
            throw fail("collective_timeout_s", "\(collective_timeout_s) must be a number of seconds, 0 or more (0 = no watchdog)")
        }
    }

    /// `gradient_accumulation_steps` counts micro-steps over all ranks, so it must split evenly.
    public func validate(worldSize: Int, sources: ConfigSources) throws {
        if gradient_accumulation_steps % worldSize != 0 {
            throw TrainConfigError.invalidValue(
                source: sources.source(of: "gradient_accumulation_steps"), key: "gradient_accumulation_steps",
                problem: "\(gradient_accumulation_steps) is not divisible by the \(worldSize) ranks of this run (it counts micro-steps over all ranks, as in nanoGPT: use a multiple of \(worldSize))")
        }
    }

    /// The dataset folder must exist before anything is loaded.
    public func validateDataDirectory(sources: ConfigSources) throws {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: data_dir, isDirectory: &isDirectory) {
            throw TrainConfigError.invalidValue(source: sources.source(of: "data_dir"), key: "data_dir",
                                                problem: "\(data_dir) does not exist (run gpt-dist prepare first)")
        }
        if !isDirectory.boolValue {
            throw TrainConfigError.invalidValue(source: sources.source(of: "data_dir"), key: "data_dir",
                                                problem: "\(data_dir) is not a folder")
        }
    }

    /// A split needs at least one window of block_size inputs plus the shifted target.
    public func validate(splitTokens: Int, split: String, sources: ConfigSources) throws {
        if block_size + 1 > splitTokens {
            throw TrainConfigError.invalidValue(
                source: sources.source(of: "block_size"), key: "block_size",
                problem: "\(block_size) is longer than the \(split) split of \(data_dir) (\(splitTokens) tokens; a window needs block_size + 1)")
        }
    }

    /// The model's vocabulary must hold every id of the dataset's tokenizer.
    public func validate(datasetVocabularySize: Int, sources: ConfigSources) throws {
        if let vocab_size, vocab_size < datasetVocabularySize {
            throw TrainConfigError.invalidValue(
                source: sources.source(of: "vocab_size"), key: "vocab_size",
                problem: "\(vocab_size) is smaller than the dataset's vocabulary of \(datasetVocabularySize) in \(data_dir)")
        }
    }
}
