import Foundation

/// One line of `out_dir/metrics.jsonl`: a log interval (`event: "train"`) or an evaluation
/// (`event: "eval"`, with `val_loss` and `loss` the train-split estimate), or a skipped update
/// (`event: "skip"`, with `grad_norm`, `reason` and `skipped`, the skips of the run so far).
public struct MetricsRecord: Equatable, Sendable {
    public enum Event: String, Sendable { case train, eval, skip }

    public var event: Event
    public var iter: Int
    public var loss: Double
    public var valLoss: Double?
    public var lr: Double
    public var tokensPerSecond: Double
    public var mfu: Double
    /// Seconds since the run (this process) started.
    public var elapsed: Double
    /// Of a skipped update: the gradient norm, why (`StepGuard.SkipReason.code`), and the skips so far.
    public var gradNorm: Double?
    public var reason: String?
    public var skipped: Int?

    public init(event: Event, iter: Int, loss: Double, valLoss: Double? = nil, lr: Double,
                tokensPerSecond: Double, mfu: Double, elapsed: Double,
                gradNorm: Double? = nil, reason: String? = nil, skipped: Int? = nil) {
        self.event = event
        self.iter = iter
        self.loss = loss
        self.valLoss = valLoss
        self.lr = lr
        self.tokensPerSecond = tokensPerSecond
        self.mfu = mfu
        self.elapsed = elapsed
        self.gradNorm = gradNorm
        self.reason = reason
        self.skipped = skipped
    }

    /// The record as one JSON object, keys in a fixed order (no newline).
    public var jsonLine: String {
        var fields = ["\"event\":\"\(event.rawValue)\"", "\"iter\":\(iter)", "\"loss\":\(json(loss))"]
        if let valLoss { fields.append("\"val_loss\":\(json(valLoss))") }
        if let gradNorm { fields.append("\"grad_norm\":\(json(gradNorm))") }
        // Reasons are fixed identifiers (no characters JSON would escape).
        if let reason { fields.append("\"reason\":\"\(reason)\"") }
        if let skipped { fields.append("\"skipped\":\(skipped)") }
        fields += ["\"lr\":\(json(lr))", "\"tokens_per_sec\":\(json(tokensPerSecond))",
                   "\"mfu\":\(json(mfu))", "\"elapsed\":\(json(elapsed))"]
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// Reads one line written by `jsonLine` (or by hand with the same keys); nil when it is not one.
    public init?(jsonLine: String) {
        guard let data = jsonLine.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let iter = (object["iter"] as? NSNumber)?.intValue else { return nil }
        func number(_ key: String) -> Double? { (object[key] as? NSNumber)?.doubleValue }
        let event = (object["event"] as? String).flatMap(Event.init(rawValue:)) ?? (object["val_loss"] != nil ? .eval : .train)
        self.init(event: event, iter: iter, loss: number("loss") ?? .nan, valLoss: number("val_loss"),
                  lr: number("lr") ?? .nan, tokensPerSecond: number("tokens_per_sec") ?? .nan,
                  mfu: number("mfu") ?? .nan, elapsed: number("elapsed") ?? .nan,
                  gradNorm: object["grad_norm"] == nil ? nil : number("grad_norm") ?? .nan,
                  reason: object["reason"] as? String, skipped: (object["skipped"] as? NSNumber)?.intValue)
    }
}

/// JSON has no NaN or infinity: those become null.
private func json(_ value: Double) -> String {
    value.isFinite ? "\(value)" : "null"
}
