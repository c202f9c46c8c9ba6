import Foundation
import Parallel

/// Every setting of a training run, under nanoGPT's names and with nanoGPT's defaults
/// (train.py and model.py), read from a YAML file plus `--set key=value` overrides.
public struct TrainConfig: Equatable, Sendable {
    // Model (model.py's GPTConfig).
    public var n_layer = 12
    public var n_head = 12
    public var n_embd = 768
    public var block_size = 1024
    public var bias = false
    public var dropout = 0.0
    /// nil: take the vocabulary size from the dataset.
    public var vocab_size: Int? = nil

    // Data and batching.
    public var batch_size = 12
    /// Micro-steps per optimizer step summed over all ranks, as in nanoGPT.
    public var gradient_accumulation_steps = 40
    public var data_dir = "data"

    // Optimizer and schedule.
    public var max_iters = 600_000
    public var learning_rate = 6e-4
    public var min_lr = 6e-5
    public var warmup_iters = 2000
    public var lr_decay_iters = 600_000
    public var decay_lr = true
    public var weight_decay = 1e-1
    public var beta1 = 0.9
    public var beta2 = 0.95
    /// Global gradient-norm clip; 0 turns clipping off.
    public var grad_clip = 1.0

    // Evaluation, logging, checkpoints.
    public var eval_interval = 2000
    public var eval_iters = 200
    public var eval_only = false
    public var log_interval = 1
    public var always_save_checkpoint = true
    /// `scratch`, `resume` (from out_dir/ckpt.h5), or the path of a checkpoint or a Hugging Face
    /// GPT-2 directory (config.json, model.safetensors) to fine-tune from.
    public var init_from = "scratch"
    public var out_dir = "out"

    // Machine.
    public var seed = 1337
    /// Compute threads per rank; 0 = the cores of this machine divided by the ranks on it.
    public var threads = 0
    /// Keep only each block's input between forward and backward and recompute the block in
    /// backward (gradient checkpointing): bit-identical gradients, one block's activations
    /// (~16·C floats per position) stored instead of n_layer blocks', one more forward of the
    /// blocks per step.
    public var activation_checkpointing = false

    // LoRA (Hu et al. 2021, as PEFT): adapters on the chosen Linear layers of every block, the
    // base weights frozen.
    /// The adapters' rank r; 0 = no LoRA (every weight trains).
    public var lora_rank = 0
    /// α: the adapters' output is scaled by α / r (PEFT's default 8).
    public var lora_alpha = 8.0
    /// Dropout probability on the adapters' input (PEFT's lora_dropout).
    public var lora_dropout = 0.0
    /// The layers that get adapters, comma-separated: any of c_attn, attn.c_proj, c_fc, mlp.c_proj.
    public var lora_targets = "c_attn"

    // Data parallelism (ignored on one rank).
    /// Megabytes of gradients per bucket of the exchange overlapped with backward (PyTorch DDP's
    /// bucket_cap_mb); 0 = one exchange after backward.
    public var bucket_mb = 25.0
    /// 1: each rank keeps AdamW's moments of its own shard only (ZeRO stage 1); 0: every rank
    /// keeps all of them and updates every parameter.
    public var zero_stage = 1
    /// `float32`, or `bfloat16` to send gradients in half the bytes (summed in float32).
    public var grad_reduce_dtype = "float32"

    // Guard against bad steps (see StepGuard).
    /// Skip the update when the loss is more than this many standard deviations above its
    /// running mean (0 = off; llm.c uses 3). A non-finite loss or norm is always skipped.
    public var skip_loss_zscore = 0.0
    /// The same for the gradient norm before clipping (0 = off).
    public var skip_grad_zscore = 0.0
    /// Stop the run after this many consecutive skipped updates.
    public var max_skipped_steps = 8
    /// Keep `ckpt-<iter>.h5` of the last this many saves besides `ckpt.h5` and `ckpt-best.h5`.
    public var keep_last = 0
    /// Save a resumable checkpoint every this many iterations, whatever the val loss (0: eval_interval).
    public var checkpoint_interval = 0
    /// Let a from-scratch run replace the checkpoint already in out_dir.
    public var overwrite_checkpoint = false
    /// Abort the job when a rank makes no progress (a micro-step, an exchange, an evaluation, a
    /// save) for this many seconds (0 = never).
    public var collective_timeout_s = 900.0

    public init() {}

    /// What `init_from` asks for.
    public enum Initialization: Equatable, Sendable {
        case scratch
        case resume
        case checkpoint(path: String)
    }

    public var initialization: Initialization {
        switch init_from {
        case "scratch": return .scratch
        case "resume": return .resume
        default: return .checkpoint(path: init_from)
        }
    }

    /// The exchange these settings ask for (validated: see `validate`).
    public var exchangeSettings: GradientExchange.Settings {
        GradientExchange.Settings(bucketElements: GradientExchange.Settings.bucketElements(megabytes: bucket_mb),
                                  zeroStage: zero_stage, wire: WireFormat(rawValue: grad_reduce_dtype) ?? .float32)
    }

    /// The LoRA these settings ask for, nil when lora_rank is 0 (validated: see `validate`).
    public var loraConfig: LoRAConfig? {
        guard lora_rank > 0, case .success(let targets) = LoRATarget.parse(lora_targets) else { return nil }
        return LoRAConfig(rank: lora_rank, alpha: lora_alpha, dropout: lora_dropout, targets: targets)
    }

    /// Tokens that one optimizer step consumes over all ranks.
    public var tokensPerIteration: Int { gradient_accumulation_steps * batch_size * block_size }
}

/// A setting: its name, type, and how to read and write it on a `TrainConfig`.
public struct TrainConfigKey {
    public let name: String
    public let kind: ConfigValueKind
    let get: (TrainConfig) -> ConfigValue
    let set: (inout TrainConfig, ConfigValue) -> Void

    static func int(_ name: String, _ path: WritableKeyPath<TrainConfig, Int>) -> TrainConfigKey {
        TrainConfigKey(name: name, kind: .int, get: { .int($0[keyPath: path]) }, set: { c, v in
            if case .int(let x) = v { c[keyPath: path] = x }
        })
    }
    static func double(_ name: String, _ path: WritableKeyPath<TrainConfig, Double>) -> TrainConfigKey {
        TrainConfigKey(name: name, kind: .double, get: { .double($0[keyPath: path]) }, set: { c, v in
            switch v {
            case .double(let x): c[keyPath: path] = x
            case .int(let x): c[keyPath: path] = Double(x)
            default: break
            }
        })
    }
    static func bool(_ name: String, _ path: WritableKeyPath<TrainConfig, Bool>) -> TrainConfigKey {
        TrainConfigKey(name: name, kind: .bool, get: { .bool($0[keyPath: path]) }, set: { c, v in
            if case .bool(let x) = v { c[keyPath: path] = x }
        })
    }
    static func string(_ name: String, _ path: WritableKeyPath<TrainConfig, String>) -> TrainConfigKey {
        TrainConfigKey(name: name, kind: .string, get: { .string($0[keyPath: path]) }, set: { c, v in
            if case .string(let x) = v { c[keyPath: path] = x }
        })
    }
}

extension TrainConfig {
    /// Every setting, in the order the files and `/config` list them.
    public static let keys: [TrainConfigKey] = [
        .int("n_layer", \.n_layer),
        .int("n_head", \.n_head),
        .int("n_embd", \.n_embd),
        .int("block_size", \.block_size),
        .bool("bias", \.bias),
        .double("dropout", \.dropout),
        TrainConfigKey(name: "vocab_size", kind: .optionalInt,
                       get: { $0.vocab_size.map(ConfigValue.int) ?? .null },
                       set: { c, v in
                           switch v {
                           case .int(let x): c.vocab_size = x
                           case .null: c.vocab_size = nil
                           default: break
                           }
                       }),
        .int("batch_size", \.batch_size),
        .int("gradient_accumulation_steps", \.gradient_accumulation_steps),
        .string("data_dir", \.data_dir),
        .int("max_iters", \.max_iters),
        .double("learning_rate", \.learning_rate),
        .double("min_lr", \.min_lr),
        .int("warmup_iters", \.warmup_iters),
        .int("lr_decay_iters", \.lr_decay_iters),
        .bool("decay_lr", \.decay_lr),
        .double("weight_decay", \.weight_decay),
        .double("beta1", \.beta1),
        .double("beta2", \.beta2),
        .double("grad_clip", \.grad_clip),
        .int("eval_interval", \.eval_interval),
        .int("eval_iters", \.eval_iters),
        .bool("eval_only", \.eval_only),
        .int("log_interval", \.log_interval),
        .bool("always_save_checkpoint", \.always_save_checkpoint),
        .bool("activation_checkpointing", \.activation_checkpointing),
        .string("init_from", \.init_from),
        .int("lora_rank", \.lora_rank),
        .double("lora_alpha", \.lora_alpha),
        .double("lora_dropout", \.lora_dropout),
        .string("lora_targets", \.lora_targets),
        .string("out_dir", \.out_dir),
        .int("seed", \.seed),
        .int("threads", \.threads),
        .double("bucket_mb", \.bucket_mb),
        .int("zero_stage", \.zero_stage),
        .string("grad_reduce_dtype", \.grad_reduce_dtype),
        .double("skip_loss_zscore", \.skip_loss_zscore),
        .double("skip_grad_zscore", \.skip_grad_zscore),
        .int("max_skipped_steps", \.max_skipped_steps),
        .int("keep_last", \.keep_last),
        .int("checkpoint_interval", \.checkpoint_interval),
        .bool("overwrite_checkpoint", \.overwrite_checkpoint),
        .double("collective_timeout_s", \.collective_timeout_s),
    ]

    /// The setting called `name`, or nil.
    public static func key(named name: String) -> TrainConfigKey? {
        keys.first { $0.name == name }
    }

    /// The value of setting `name` (which must be one of `keys`).
    public func value(of name: String) -> ConfigValue {
        TrainConfig.key(named: name)!.get(self)
    }

    /// Sets setting `key` to `value`, which must already have the key's type.
    public mutating func setValue(_ value: ConfigValue, for key: TrainConfigKey) {
        key.set(&self, value)
    }

    /// Every setting with its value, in `keys` order.
    public var allValues: [(name: String, value: ConfigValue)] {
        TrainConfig.keys.map { ($0.name, $0.get(self)) }
    }

    /// The known key closest to a misspelt one, for "did you mean" hints.
    static func suggestion(for name: String) -> String? {
        let scored = keys.map { ($0.name, editDistance($0.name, name)) }.min { $0.1 < $1.1 }
        guard let (best, distance) = scored, distance <= max(2, name.count / 4) else { return nil }
        return best
    }
}

/// Levenshtein distance, for suggesting the key a typo meant.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1,
                             previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
