/// The two parts of a dataset: the first tokens train, the last `--val-fraction` validate.
public enum DataSplit: String, Sendable, CaseIterable, Codable {
    case train
    case val
}
