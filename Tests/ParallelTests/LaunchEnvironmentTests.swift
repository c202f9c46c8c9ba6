import XCTest
@testable import Parallel

/// How the process was started decides whether MPI is used at all.
final class LaunchEnvironmentTests: XCTestCase {
    func testPlainRunIsNoLauncher() {
        let launch = LaunchEnvironment.detect(["HOME": "/root", "PATH": "/usr/bin"])
        XCTAssertEqual(launch.launcher, .none)
        XCTAssertFalse(launch.isLaunchedInParallel)
        XCTAssertTrue(launch.variables.isEmpty)
        XCTAssertNil(launch.rank)
        XCTAssertNil(launch.localSize)
    }

    func testOpenMPIMpirun() {
        let launch = LaunchEnvironment.detect([
            "OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4",
            "OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "HOME": "/root",
        ])
        XCTAssertEqual(launch.launcher, .mpirun)
        XCTAssertTrue(launch.isLaunchedInParallel)
        XCTAssertEqual(launch.rank, 2)
        XCTAssertEqual(launch.size, 4)
        XCTAssertEqual(launch.localRank, 0)
        XCTAssertEqual(launch.localSize, 2)
        XCTAssertEqual(launch.variables.map(\.name),
                       ["OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"])
    }

    func testPMIxAndHydra() {
        XCTAssertEqual(LaunchEnvironment.detect(["PMIX_RANK": "0"]).launcher, .mpirun)
        let hydra = LaunchEnvironment.detect(["PMI_RANK": "1", "PMI_SIZE": "3", "MPI_LOCALNRANKS": "3", "MPI_LOCALRANKID": "1"])
        XCTAssertEqual(hydra.launcher, .mpirun)
        XCTAssertEqual(hydra.rank, 1)
        XCTAssertEqual(hydra.size, 3)
        XCTAssertEqual(hydra.localRank, 1)
        XCTAssertEqual(hydra.localSize, 3)
        // PMI_RANK alone is not a launch.
        XCTAssertEqual(LaunchEnvironment.detect(["PMI_RANK": "1"]).launcher, .none)
    }

    func testSrunNeedsAStepAndATaskId() {
        let srun = LaunchEnvironment.detect(["SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0", "SLURM_PROCID": "5",
                                             "SLURM_STEP_NUM_TASKS": "8", "SLURM_LOCALID": "1", "PMIX_RANK": "5"])
        XCTAssertEqual(srun.launcher, .srun)
        XCTAssertEqual(srun.rank, 5)
        XCTAssertEqual(srun.size, 8)
        XCTAssertEqual(srun.localRank, 1)
        // A batch script (job but no step) runs one process: no MPI.
        XCTAssertEqual(LaunchEnvironment.detect(["SLURM_JOB_ID": "77", "SLURM_NTASKS": "8"]).launcher, .none)
        XCTAssertEqual(LaunchEnvironment.detect(["SLURM_STEP_ID": "0"]).launcher, .none)
    }

    func testThreadsPerRankSharesTheCores() {
        XCTAssertEqual(threadsPerRank(localSize: 1, cores: 8, allowedCores: 8), 8)
        XCTAssertEqual(threadsPerRank(localSize: 3, cores: 8, allowedCores: 8), 2)
        XCTAssertEqual(threadsPerRank(localSize: 4, cores: 2, allowedCores: 2), 1)
        XCTAssertEqual(threadsPerRank(localSize: 0, cores: 4, allowedCores: 4), 4)
        XCTAssertEqual(threadsPerRank(localSize: 2, cores: 0, allowedCores: nil), 1)
        // Bound to fewer cores than its share: use only those.
        XCTAssertEqual(threadsPerRank(localSize: 1, cores: 8, allowedCores: 1), 1)
        XCTAssertEqual(threadsPerRank(localSize: 4, cores: 16, allowedCores: 8), 4)
        XCTAssertEqual(threadsPerRank(localSize: 2, cores: 8, allowedCores: nil), 4)
    }

    func testAllowedCoresFromProcStatus() {
        XCTAssertEqual(allowedCoreCount(procStatus: "Name:\tx\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n"), 2)
        XCTAssertEqual(allowedCoreCount(procStatus: "Cpus_allowed:\tffffffff,00000001\n"), 33)
        XCTAssertEqual(allowedCoreCount(procStatus: "Cpus_allowed:\t2\n"), 1)
        XCTAssertNil(allowedCoreCount(procStatus: "Name:\tx\n"))
        XCTAssertNil(allowedCoreCount(procStatus: "Cpus_allowed:\tzz\n"))
    }

    /// The test process is not launched by mpirun, so the world is local and MPI stays off.
    func testWorldWithoutLauncherIsLocalAndDoesNotStartMPI() throws {
        try XCTSkipIf(LaunchEnvironment.detect().isLaunchedInParallel, "the test runner itself runs under a launcher")
        let world = try World.communicator()
        XCTAssertTrue(world is LocalCommunicator)
        XCTAssertEqual(world.size, 1)
        XCTAssertTrue(try World.communicator() === world)
        XCTAssertFalse(MPIRuntime.isInitialized)
        XCTAssertTrue(MPIRuntime.libraryVersion().hasPrefix("Open MPI v"), MPIRuntime.libraryVersion())
        XCTAssertFalse(MPIRuntime.isInitialized, "reading the library version must not start MPI")
        World.finalize()  // nothing started: a no-op
        XCTAssertFalse(MPIRuntime.isFinalized)
    }
}
