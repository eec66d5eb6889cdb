import Glibc

// Profiles may name the errno a rule returns ("errno": "EPERM"). The numbers come from the
// C library for the architecture we are built for (they differ on MIPS, SPARC, Alpha).

extension SeccompProfile {
    static let errnoTable: [(String, Int32)] = [
        ("EPERM", EPERM), ("ENOENT", ENOENT), ("ESRCH", ESRCH), ("EINTR", EINTR), ("EIO", EIO),
        ("ENXIO", ENXIO), ("E2BIG", E2BIG), ("ENOEXEC", ENOEXEC), ("EBADF", EBADF), ("ECHILD", ECHILD),
        ("EAGAIN", EAGAIN), ("ENOMEM", ENOMEM), ("EACCES", EACCES), ("EFAULT", EFAULT),
        ("ENOTBLK", ENOTBLK), ("EBUSY", EBUSY), ("EEXIST", EEXIST), ("EXDEV", EXDEV), ("ENODEV", ENODEV),
        ("ENOTDIR", ENOTDIR), ("EISDIR", EISDIR), ("EINVAL", EINVAL), ("ENFILE", ENFILE),
        ("EMFILE", EMFILE), ("ENOTTY", ENOTTY), ("ETXTBSY", ETXTBSY), ("EFBIG", EFBIG),
        ("ENOSPC", ENOSPC), ("ESPIPE", ESPIPE), ("EROFS", EROFS), ("EMLINK", EMLINK), ("EPIPE", EPIPE),
        ("EDOM", EDOM), ("ERANGE", ERANGE), ("EDEADLK", EDEADLK), ("ENAMETOOLONG", ENAMETOOLONG),
        ("ENOLCK", ENOLCK), ("ENOSYS", ENOSYS), ("ENOTEMPTY", ENOTEMPTY), ("ELOOP", ELOOP),
        ("ENOMSG", ENOMSG), ("EIDRM", EIDRM), ("ECHRNG", ECHRNG), ("EL2NSYNC", EL2NSYNC),
        ("EL3HLT", EL3HLT), ("EL3RST", EL3RST), ("ELNRNG", ELNRNG), ("EUNATCH", EUNATCH),
        ("ENOCSI", ENOCSI), ("EL2HLT", EL2HLT), ("EBADE", EBADE), ("EBADR", EBADR), ("EXFULL", EXFULL),
        ("ENOANO", ENOANO), ("EBADRQC", EBADRQC), ("EBADSLT", EBADSLT), ("EBFONT", EBFONT),
        ("ENOSTR", ENOSTR), ("ENODATA", ENODATA), ("ETIME", ETIME), ("ENOSR", ENOSR),
        ("ENONET", ENONET), ("ENOPKG", ENOPKG), ("EREMOTE", EREMOTE), ("ENOLINK", ENOLINK),
        ("EADV", EADV), ("ESRMNT", ESRMNT), ("ECOMM", ECOMM), ("EPROTO", EPROTO),
        ("EMULTIHOP", EMULTIHOP), ("EDOTDOT", EDOTDOT), ("EBADMSG", EBADMSG), ("EOVERFLOW", EOVERFLOW),
        ("ENOTUNIQ", ENOTUNIQ), ("EBADFD", EBADFD), ("EREMCHG", EREMCHG), ("ELIBACC", ELIBACC),
        ("ELIBBAD", ELIBBAD), ("ELIBSCN", ELIBSCN), ("ELIBMAX", ELIBMAX), ("ELIBEXEC", ELIBEXEC),
        ("EILSEQ", EILSEQ), ("ERESTART", ERESTART), ("ESTRPIPE", ESTRPIPE), ("EUSERS", EUSERS),
        ("ENOTSOCK", ENOTSOCK), ("EDESTADDRREQ", EDESTADDRREQ), ("EMSGSIZE", EMSGSIZE),
        ("EPROTOTYPE", EPROTOTYPE), ("ENOPROTOOPT", ENOPROTOOPT), ("EPROTONOSUPPORT", EPROTONOSUPPORT),
        ("ESOCKTNOSUPPORT", ESOCKTNOSUPPORT), ("EOPNOTSUPP", EOPNOTSUPP), ("EPFNOSUPPORT", EPFNOSUPPORT),
        ("EAFNOSUPPORT", EAFNOSUPPORT), ("EADDRINUSE", EADDRINUSE), ("EADDRNOTAVAIL", EADDRNOTAVAIL),
        ("ENETDOWN", ENETDOWN), ("ENETUNREACH", ENETUNREACH), ("ENETRESET", ENETRESET),
        ("ECONNABORTED", ECONNABORTED), ("ECONNRESET", ECONNRESET), ("ENOBUFS", ENOBUFS),
        ("EISCONN", EISCONN), ("ENOTCONN", ENOTCONN), ("ESHUTDOWN", ESHUTDOWN),
        ("ETOOMANYREFS", ETOOMANYREFS), ("ETIMEDOUT", ETIMEDOUT), ("ECONNREFUSED", ECONNREFUSED),
        ("EHOSTDOWN", EHOSTDOWN), ("EHOSTUNREACH", EHOSTUNREACH), ("EALREADY", EALREADY),
        ("EINPROGRESS", EINPROGRESS), ("ESTALE", ESTALE), ("EUCLEAN", EUCLEAN), ("ENOTNAM", ENOTNAM),
        ("ENAVAIL", ENAVAIL), ("EISNAM", EISNAM), ("EREMOTEIO", EREMOTEIO), ("EDQUOT", EDQUOT),
        ("ENOMEDIUM", ENOMEDIUM), ("EMEDIUMTYPE", EMEDIUMTYPE), ("ECANCELED", ECANCELED),
        ("ENOKEY", ENOKEY), ("EKEYEXPIRED", EKEYEXPIRED), ("EKEYREVOKED", EKEYREVOKED),
        ("EKEYREJECTED", EKEYREJECTED), ("EOWNERDEAD", EOWNERDEAD), ("ENOTRECOVERABLE", ENOTRECOVERABLE),
        ("ERFKILL", ERFKILL), ("EHWPOISON", EHWPOISON),
        // Aliases last, so a number maps back to the name above.
        ("EWOULDBLOCK", EWOULDBLOCK), ("EDEADLOCK", EDEADLOCK), ("ENOTSUP", ENOTSUP),
    ]

    private static let errnoByName: [String: Int32] = Dictionary(errnoTable, uniquingKeysWith: { first, _ in first })
    private static let nameByErrno: [Int32: String] = Dictionary(errnoTable.map { ($1, $0) }, uniquingKeysWith: { first, _ in first })

    /// "EPERM" -> 1; nil for a name this platform does not have.
    public static func errnoValue(named name: String) -> Int32? {
        errnoByName[name]
    }

    /// 1 -> "EPERM"; an unknown number reads as "errno 1234".
    public static func errnoName(_ value: Int32) -> String {
        nameByErrno[value] ?? "errno \(value)"
    }
}
