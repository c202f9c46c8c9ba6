import CHDF5
public enum HDF5Placeholder { static func f() -> hid_t { H5Fopen("x", chdf5_f_acc_rdonly(), chdf5_p_default()) } }
