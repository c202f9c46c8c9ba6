import XCTest
@testable import GPT

final class TrainConfigTests: XCTestCase {
    func parse(_ yaml: String, _ overrides: [String] = []) throws -> TrainConfig {
        try TrainConfig.parse(yaml: yaml, file: "configs/x.yaml", overrides: overrides).0
    }

    /// The message of the error that `body` throws, or a failure.
    func message(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            XCTFail("expected an error")
            return ""
        } catch {
            XCTAssertEqual("\(error)".split(separator: "\n").count, 1, "one line: \(error)")
            XCTAssertEqual(error.localizedDescription, "\(error)")
            return "\(error)"
        }
    }

    func testDefaultsAreNanoGPTs() throws {
        let c = try parse("")
        XCTAssertEqual(c.n_layer, 12); XCTAssertEqual(c.n_head, 12); XCTAssertEqual(c.n_embd, 768)
        XCTAssertEqual(c.block_size, 1024); XCTAssertEqual(c.bias, false); XCTAssertEqual(c.dropout, 0)
        XCTAssertNil(c.vocab_size)
        XCTAssertEqual(c.batch_size, 12); XCTAssertEqual(c.gradient_accumulation_steps, 40)
        XCTAssertEqual(c.max_iters, 600_000); XCTAssertEqual(c.learning_rate, 6e-4); XCTAssertEqual(c.min_lr, 6e-5)
        XCTAssertEqual(c.warmup_iters, 2000); XCTAssertEqual(c.lr_decay_iters, 600_000); XCTAssertTrue(c.decay_lr)
        XCTAssertEqual(c.weight_decay, 0.1); XCTAssertEqual(c.beta1, 0.9); XCTAssertEqual(c.beta2, 0.95)
        XCTAssertEqual(c.grad_clip, 1.0); XCTAssertEqual(c.eval_interval, 2000); XCTAssertEqual(c.eval_iters, 200)
        XCTAssertFalse(c.eval_only); XCTAssertEqual(c.log_interval, 1); XCTAssertTrue(c.always_save_checkpoint)
        XCTAssertEqual(c.initialization, .scratch); XCTAssertEqual(c.out_dir, "out"); XCTAssertEqual(c.seed, 1337)
        XCTAssertEqual(c.threads, 0); XCTAssertFalse(c.activation_checkpointing)
        // The exchange: PyTorch DDP's 25 MB buckets, ZeRO stage 1, float32 on the wire.
        XCTAssertEqual(c.bucket_mb, 25); XCTAssertEqual(c.zero_stage, 1); XCTAssertEqual(c.grad_reduce_dtype, "float32")
        XCTAssertEqual(c.exchangeSettings.bucketElements, 6_250_000)
        // The step guard: only non-finite steps skipped, 8 in a row stop the run.
        XCTAssertEqual(c.skip_loss_zscore, 0); XCTAssertEqual(c.skip_grad_zscore, 0); XCTAssertEqual(c.max_skipped_steps, 8)
        XCTAssertEqual(c.keep_last, 0)
        XCTAssertEqual(c.checkpoint_interval, 0); XCTAssertFalse(c.overwrite_checkpoint); XCTAssertEqual(c.collective_timeout_s, 900)
        // LoRA off; PEFT's defaults for the rest (alpha 8, no dropout), GPT-2's c_attn as the target.
        XCTAssertEqual(c.lora_rank, 0); XCTAssertEqual(c.lora_alpha, 8); XCTAssertEqual(c.lora_dropout, 0)
        XCTAssertEqual(c.lora_targets, "c_attn"); XCTAssertNil(c.loraConfig)
        XCTAssertEqual(TrainConfig.keys.count, 44)
    }

    func testReadsEveryType() throws {
        let c = try parse("""
        n_layer: 4
        n_embd: 128
        n_head: 4
        bias: true
        dropout: 0.2
        vocab_size: 65
        learning_rate: 1e-3
        max_iters: 5e3
        data_dir: "data/x"
        init_from: out/other/ckpt.h5
        """)
        XCTAssertEqual(c.n_layer, 4); XCTAssertEqual(c.n_embd, 128); XCTAssertTrue(c.bias)
        XCTAssertEqual(c.dropout, 0.2); XCTAssertEqual(c.vocab_size, 65); XCTAssertEqual(c.learning_rate, 1e-3)
        XCTAssertEqual(c.max_iters, 5000); XCTAssertEqual(c.data_dir, "data/x")
        XCTAssertEqual(c.initialization, .checkpoint(path: "out/other/ckpt.h5"))
        XCTAssertEqual(try parse("vocab_size: null").vocab_size, nil)
        XCTAssertEqual(try parse("init_from: resume").initialization, .resume)
        XCTAssertEqual(try parse("learning_rate: 1").learning_rate, 1.0)
    }

    func testUnknownKeyNamesKeyFileAndLine() {
        XCTAssertEqual(message { try parse("n_layer: 2\nn_embed: 64\n") },
                       "configs/x.yaml:2: unknown key 'n_embed' (did you mean n_embd?)")
        XCTAssertEqual(message { try parse("wandb_log: true") }, "configs/x.yaml:1: unknown key 'wandb_log'")
    }

    func testWrongTypes() {
        XCTAssertEqual(message { try parse("n_layer: four") },
                       "configs/x.yaml:1: n_layer: expected an integer, got \"four\"")
        XCTAssertEqual(message { try parse("n_layer: 2.5") },
                       "configs/x.yaml:1: n_layer: expected an integer, got \"2.5\"")
        XCTAssertEqual(message { try parse("bias: maybe") },
                       "configs/x.yaml:1: bias: expected true or false, got \"maybe\"")
        XCTAssertEqual(message { try parse("learning_rate: \"1e-3\"") },
                       "configs/x.yaml:1: learning_rate: expected a number, got \"1e-3\"")
        XCTAssertEqual(message { try parse("dropout: [0.1]") },
                       "configs/x.yaml:1: dropout: expected a number, got a list")
        XCTAssertEqual(message { try parse("data_dir:") },
                       "configs/x.yaml:1: data_dir: expected a string, got null")
        XCTAssertEqual(message { try parse("n_layer:") },
                       "configs/x.yaml:1: n_layer: expected an integer, got null")
    }

    func testImpossibleValues() {
        XCTAssertEqual(message { try parse("n_head: 3\nn_embd: 100") },
                       "configs/x.yaml:2: n_embd: 100 is not divisible by n_head 3")
        XCTAssertEqual(message { try parse("dropout: 1.0") }, "configs/x.yaml:1: dropout: 1.0 must be in [0, 1)")
        XCTAssertEqual(message { try parse("batch_size: 0") }, "configs/x.yaml:1: batch_size: 0 must be at least 1")
        XCTAssertEqual(message { try parse("warmup_iters: 100\nlr_decay_iters: 100") },
                       "configs/x.yaml:2: lr_decay_iters: 100 equals warmup_iters: the cosine decay would last zero iterations")
        XCTAssertEqual(message { try parse("beta2: 1") }, "configs/x.yaml:1: beta2: 1.0 must be in [0, 1)")
        XCTAssertEqual(message { try parse("bucket_mb: -1") },
                       "configs/x.yaml:1: bucket_mb: -1.0 must be a number of megabytes, 0 or more (0 = one exchange after backward)")
        XCTAssertEqual(message { try parse("zero_stage: 2") }, "configs/x.yaml:1: zero_stage: 2 must be 0 or 1")
        XCTAssertEqual(message { try parse("grad_reduce_dtype: fp16") },
                       "configs/x.yaml:1: grad_reduce_dtype: 'fp16' must be float32 or bfloat16")
        XCTAssertEqual(message { try parse("skip_loss_zscore: -3") },
                       "configs/x.yaml:1: skip_loss_zscore: -3.0 must be a number of standard deviations, 0 or more (0 = off)")
        XCTAssertEqual(message { try parse("max_skipped_steps: 0") }, "configs/x.yaml:1: max_skipped_steps: 0 must be at least 1")
        XCTAssertEqual(message { try parse("lora_rank: -2") },
                       "configs/x.yaml:1: lora_rank: -2 must be 0 (no LoRA) or a positive rank")
        XCTAssertEqual(message { try parse("lora_rank: 8\nlora_alpha: -1") },
                       "configs/x.yaml:2: lora_alpha: -1.0 must be a positive number (the adapters' output is scaled by lora_alpha / lora_rank)")
        XCTAssertEqual(message { try parse("lora_dropout: 1") }, "configs/x.yaml:1: lora_dropout: 1.0 must be in [0, 1)")
        XCTAssertEqual(message { try parse("lora_targets: c_attn, q_proj") },
                       "configs/x.yaml:1: lora_targets: 'q_proj' is not one of c_attn, attn.c_proj, c_fc, mlp.c_proj")
        XCTAssertEqual(message { try parse("lora_targets: c_attn,,c_fc") },
                       "configs/x.yaml:1: lora_targets: 'c_attn,,c_fc' has an empty name: list any of c_attn, attn.c_proj, c_fc, mlp.c_proj, comma-separated")
        XCTAssertEqual(message { try parse("lora_targets: ' '") },
                       "configs/x.yaml:1: lora_targets: ' ' has an empty name: list any of c_attn, attn.c_proj, c_fc, mlp.c_proj, comma-separated")
        XCTAssertEqual(message { try parse("lora_targets: mlp.c_proj,mlp.c_proj") },
                       "configs/x.yaml:1: lora_targets: 'mlp.c_proj' is named twice")
        // A default that becomes impossible through another key names the line of that key.
        XCTAssertEqual(message { try parse("n_head: 5") }, "configs/x.yaml:1: n_embd: 768 is not divisible by n_head 5")
    }

    func testLoRASettings() throws {
        let c = try parse("lora_rank: 8\nlora_alpha: 16\nlora_dropout: 0.05\nlora_targets: mlp.c_proj, c_attn")
        // Targets in the model's order whatever the order written.
        XCTAssertEqual(c.loraConfig, LoRAConfig(rank: 8, alpha: 16, dropout: 0.05, targets: [.attention, .feedForwardProjection]))
        XCTAssertEqual(c.loraConfig?.scale, 2)
        XCTAssertEqual(c.loraConfig?.targetList, "c_attn,mlp.c_proj")
        XCTAssertNil(try parse("lora_alpha: 16").loraConfig, "lora_rank 0 is off")
    }

    func testSyntaxAndShapeErrors() {
        XCTAssertTrue(message { try parse("n_layer: [1, 2") }.hasPrefix("configs/x.yaml:"))
        XCTAssertEqual(message { try parse("- n_layer") },
                       "configs/x.yaml: expected `key: value` lines (a YAML mapping) at the top level")
        XCTAssertEqual(message { try parse("n_layer: 2\nn_layer: 3") }, "configs/x.yaml:2: n_layer is set twice")
        XCTAssertEqual(message { try TrainConfig.load(file: "/nonexistent/x.yaml") },
                       "/nonexistent/x.yaml: cannot read the config: no such file")
    }

    func testOverrides() throws {
        let (c, sources) = try TrainConfig.parse(yaml: "n_layer: 2\nmax_iters: 10", file: "configs/x.yaml",
                                                 overrides: ["max_iters=20", "bias=true", "vocab_size=null",
                                                             "data_dir=a=b", "learning_rate=2e-4"])
        XCTAssertEqual(c.n_layer, 2); XCTAssertEqual(c.max_iters, 20); XCTAssertTrue(c.bias)
        XCTAssertNil(c.vocab_size); XCTAssertEqual(c.data_dir, "a=b"); XCTAssertEqual(c.learning_rate, 2e-4)
        XCTAssertEqual(sources.source(of: "max_iters"), "--set max_iters")
        XCTAssertEqual(sources.source(of: "n_layer"), "configs/x.yaml:1")
        XCTAssertEqual(sources.source(of: "seed"), "configs/x.yaml")
    }

    func testOverrideErrorsNameTheOverride() {
        XCTAssertEqual(message { try parse("", ["max_iters"]) }, "--set max_iters: expected key=value")
        XCTAssertEqual(message { try parse("", ["=3"]) }, "--set =3: expected key=value")
        XCTAssertEqual(message { try parse("", ["n_layers=3"]) },
                       "--set n_layers: unknown key (did you mean n_layer?)")
        XCTAssertEqual(message { try parse("", ["n_layer=three"]) },
                       "--set n_layer: expected an integer, got \"three\"")
        XCTAssertEqual(message { try parse("", ["n_head=7"]) },
                       "--set n_head: n_embd: 768 is not divisible by n_head 7")
        XCTAssertEqual(message { try parse("", ["n_embd=100", "n_head=3"]) },
                       "--set n_embd: 100 is not divisible by n_head 3")
    }

    func testRuntimeChecks() throws {
        let (c, sources) = try TrainConfig.parse(yaml: "gradient_accumulation_steps: 4\nblock_size: 64\ndata_dir: /nonexistent/data",
                                                 file: "configs/x.yaml")
        XCTAssertNoThrow(try c.validate(worldSize: 2, sources: sources))
        XCTAssertEqual(message { try c.validate(worldSize: 3, sources: sources) },
                       "configs/x.yaml:1: gradient_accumulation_steps: 4 is not divisible by the 3 ranks of this run (it counts micro-steps over all ranks, as in nanoGPT: use a multiple of 3)")
        XCTAssertEqual(message { try c.validate(splitTokens: 64, split: "val", sources: sources) },
                       "configs/x.yaml:2: block_size: 64 is longer than the val split of /nonexistent/data (64 tokens; a window needs block_size + 1)")
        XCTAssertNoThrow(try c.validate(splitTokens: 65, split: "val", sources: sources))
        XCTAssertEqual(message { try c.validateDataDirectory(sources: sources) },
                       "configs/x.yaml:3: data_dir: /nonexistent/data does not exist (run gpt-dist prepare first)")
        var d = c
        d.vocab_size = 50
        XCTAssertEqual(message { try d.validate(datasetVocabularySize: 65, sources: sources) },
                       "configs/x.yaml: vocab_size: 50 is smaller than the dataset's vocabulary of 65 in /nonexistent/data")
    }

    func testShippedConfigsLoad() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let expected: [String: (layers: Int, heads: Int, embd: Int, block: Int)] = [
            "quick": (3, 4, 48, 32), "shakespeare_char": (4, 4, 128, 64), "tiny": (2, 4, 128, 64),
            "small": (4, 4, 208, 128), "medium": (8, 8, 512, 256), "large": (12, 12, 768, 1024),
        ]
        for (name, shape) in expected {
            let (c, _) = try TrainConfig.load(file: root.appendingPathComponent("configs/\(name).yaml").path)
            XCTAssertEqual([c.n_layer, c.n_head, c.n_embd, c.block_size], [shape.layers, shape.heads, shape.embd, shape.block], name)
        }
        let (s, _) = try TrainConfig.load(file: root.appendingPathComponent("configs/shakespeare_char.yaml").path)
        XCTAssertEqual(s.batch_size, 12); XCTAssertEqual(s.max_iters, 2000); XCTAssertEqual(s.learning_rate, 1e-3)
        XCTAssertEqual(s.min_lr, 1e-4); XCTAssertEqual(s.warmup_iters, 100); XCTAssertEqual(s.lr_decay_iters, 2000)
        XCTAssertEqual(s.beta2, 0.99); XCTAssertEqual(s.dropout, 0); XCTAssertEqual(s.eval_interval, 250)
        XCTAssertEqual(s.eval_iters, 20); XCTAssertEqual(s.gradient_accumulation_steps, 1)
        let (large, _) = try TrainConfig.load(file: root.appendingPathComponent("configs/large.yaml").path)
        XCTAssertEqual(large.vocab_size, 50304)
    }
}
