import Foundation
import HDF5

/// Everything a dataset folder written by `gpt-dist prepare` holds, read straight from its HDF5
/// files (docs/dataset-format.md) so two folders can be compared: the file names, and per file
/// every attribute and every dataset's type and values. The random `dataset_id` is kept apart,
/// since two runs never share it.
public struct DatasetSnapshot: Equatable, CustomStringConvertible {
    /// Every name in the folder (hidden ones too: leftovers would show), sorted.
    public var fileNames: [String]
    /// Per HDF5 file, per object path ("/" for the root): its attributes, printed, without `dataset_id`.
    public var attributes: [String: [String: [String: String]]]
    /// Per HDF5 file, per dataset path: the element type and the values (widened to Int64).
    public var datasets: [String: [String: DatasetValues]]
    /// The `dataset_id` of each HDF5 file.
    public var datasetIDs: [String: String]

    public struct DatasetValues: Equatable {
        public var elementType: String
        public var values: [Int64]
    }

    /// Reads every file of `folder`.
    public init(folder: String) throws {
        fileNames = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        attributes = [:]
        datasets = [:]
        datasetIDs = [:]
        for name in fileNames where name.hasSuffix(".h5") {
            let file = try H5File.open(at: URL(fileURLWithPath: folder).appendingPathComponent(name).path)
            defer { file.close() }
            var objects: [String: [String: String]] = [:]
            var values: [String: DatasetValues] = [:]
            objects["/"] = try Self.attributes(of: file)
            datasetIDs[name] = try file.attribute("dataset_id", as: String.self)
            try Self.walk(file, path: "", objects: &objects, values: &values)
            attributes[name] = objects
            datasets[name] = values
        }
    }

    /// The tokens of one split, its shards read in order and laid end to end.
    public func tokens(_ split: String) -> [Int64] {
        fileNames.filter { $0.hasPrefix(split + "_") && $0.hasSuffix(".h5") }
            .flatMap { datasets[$0]?["/tokens"]?.values ?? [] }
    }

    /// True when every HDF5 file carries the same `dataset_id`.
    public var hasOneDatasetID: Bool { Set(datasetIDs.values).count == 1 }

    /// Equal contents, whatever the dataset ids.
    public static func == (a: DatasetSnapshot, b: DatasetSnapshot) -> Bool {
        a.fileNames == b.fileNames && a.attributes == b.attributes && a.datasets == b.datasets
    }

    public var description: String {
        "\(fileNames.count) files \(fileNames), \(tokens("train").count) train and \(tokens("val").count) val tokens"
    }

    private static func attributes(of object: H5Object) throws -> [String: String] {
        var result: [String: String] = [:]
        for name in try object.attributeNames() where name != "dataset_id" {
            result[name] = try object.attributeValue(name).description
        }
        return result
    }

    private static func walk(_ group: H5Group, path: String, objects: inout [String: [String: String]],
                             values: inout [String: DatasetValues]) throws {
        for child in try group.childNames() {
            let childPath = path + "/" + child
            switch try group.kind(of: child) {
            case .dataset?:
                let dataset = try group.dataset(child)
                defer { dataset.close() }
                objects[childPath] = try attributes(of: dataset)
                values[childPath] = DatasetValues(elementType: try dataset.elementType.description,
                                                  values: try dataset.read(as: Int64.self, conversion: .lossless))
            case .group?:
                let inner = try group.group(child)
                defer { inner.close() }
                objects[childPath] = try attributes(of: inner)
                try walk(inner, path: childPath, objects: &objects, values: &values)
            default:
                objects[childPath] = ["kind": "other"]
            }
        }
    }
}
