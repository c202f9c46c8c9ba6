import Foundation

/// A Linear layer of every block that can carry a LoRA adapter, under the names PEFT's
/// `target_modules` matches in a GPT-2 (`c_attn`, `attn.c_proj`, `c_fc`, `mlp.c_proj`).
public enum LoRATarget: String, CaseIterable, Sendable, Codable {
    case attention = "c_attn"
    case attentionProjection = "attn.c_proj"
    case feedForward = "c_fc"
    case feedForwardProjection = "mlp.c_proj"

    /// The module's path inside block `transformer.h.{i}`: `attn.c_attn`, `attn.c_proj`,
    /// `mlp.c_fc`, `mlp.c_proj`.
    public var modulePath: String {
        switch self {
        case .attention: return "attn.c_attn"
        case .attentionProjection: return "attn.c_proj"
        case .feedForward: return "mlp.c_fc"
        case .feedForwardProjection: return "mlp.c_proj"
        }
    }

    /// (out_features, in_features) of the layer in a model of width `c`.
    public func shape(embedding c: Int) -> (outFeatures: Int, inFeatures: Int) {
        switch self {
        case .attention: return (3 * c, c)
        case .attentionProjection: return (c, c)
        case .feedForward: return (4 * c, c)
        case .feedForwardProjection: return (c, 4 * c)
        }
    }

    /// The targets named in `text` (comma-separated, spaces allowed), in the order of
    /// `allCases`, or the first name that is not a target.
    public static func parse(_ text: String) -> Result<[LoRATarget], LoRAConfigError> {
        var chosen = Set<LoRATarget>()
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.contains(where: \.isEmpty) else {
            return .failure(LoRAConfigError(key: "lora_targets", problem: "'\(text)' has an empty name: list any of \(allCases.map(\.rawValue).joined(separator: ", ")), comma-separated"))
        }
        for name in names {
            guard let target = LoRATarget(rawValue: name) else {
                return .failure(LoRAConfigError(key: "lora_targets", problem: "'\(name)' is not one of \(allCases.map(\.rawValue).joined(separator: ", "))"))
            }
            guard chosen.insert(target).inserted else {
                return .failure(LoRAConfigError(key: "lora_targets", problem: "'\(name)' is named twice"))
            }
        }
        return .success(allCases.filter { chosen.contains($0) })
    }
}

/// LoRA's settings (Hu et al. 2021, as PEFT implements them): each target Linear `y = x·Wᵀ + b`
/// of every block becomes `y = x·Wᵀ + b + scale·(dropout(x)·Aᵀ)·Bᵀ` with A `[rank, in]`, B
/// `[out, rank]` and `scale = alpha / rank`; the base weights are frozen and only A and B train.
public struct LoRAConfig: Equatable, Hashable, Sendable {
    /// r, the adapters' inner dimension (at least 1).
    public var rank: Int
    /// α; the adapter's output is scaled by α / r (PEFT's `lora_alpha`).
    public var alpha: Double
    /// Dropout probability on the adapter's input (PEFT's `lora_dropout`), in [0, 1).
    public var dropout: Double
    /// The layers of every block that get an adapter, in `LoRATarget.allCases` order.
    public var targets: [LoRATarget]

    public init(rank: Int, alpha: Double, dropout: Double = 0, targets: [LoRATarget] = [.attention]) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = LoRATarget.allCases.filter { targets.contains($0) }
    }

    /// α / r, the factor of every adapter's output.
    public var scale: Float { Float(alpha / Double(rank)) }

    /// `targets` as the config writes them: `c_attn,mlp.c_proj`.
    public var targetList: String { targets.map(\.rawValue).joined(separator: ",") }

    /// Throws a `LoRAConfigError` naming the first key whose value cannot work.
    public func validate() throws {
        if rank < 1 { throw LoRAConfigError(key: "lora_rank", problem: "\(rank) must be at least 1 (0 turns LoRA off)") }
        if !(alpha > 0 && alpha.isFinite) { throw LoRAConfigError(key: "lora_alpha", problem: "\(alpha) must be a positive number") }
        if !(dropout >= 0 && dropout < 1) { throw LoRAConfigError(key: "lora_dropout", problem: "\(dropout) must be in [0, 1)") }
        if targets.isEmpty { throw LoRAConfigError(key: "lora_targets", problem: "names no layer") }
    }
}

/// A LoRA setting that cannot work; names the key.
public struct LoRAConfigError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let key: String
    public let problem: String

    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String { "\(key): \(problem)" }
    public var errorDescription: String? { description }
}
