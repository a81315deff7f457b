"""The Chinese help (命令帮助) of the node's own commands: fiscalsync itself and its exit statuses,
the node home, its database, topology, network, PKI and keys, change-sets, sync, outbox and
inbox, quarantine, check, code sets and revocation. Looked up through nodes.help_zh."""

from __future__ import annotations

__all__ = ["COMMANDS", "OPTIONS", "EXIT_STATUS"]

COMMANDS: dict[str, tuple[str, str]] = {
    "": (
        "fiscalsync：省→市→县预算指标、回执、报表与对账的签名变更集同步。",
        """\
fiscalsync：省→市→县三级同步预算指标、回执、报表和上下级对账，每项都以签名变更集传送。

\b
示例：
  fiscalsync demo
  fiscalsync --home /srv/fiscalsync/410102 status
""",
    ),
    "init": (
        "创建节点目录：设置、已迁移的数据库、密钥和暂存目录。",
        """\
创建节点目录：设置文件、已迁移到最新结构的数据库，以及存放密钥和暂存文件的目录。

\b
示例：
  fiscalsync init /srv/fiscalsync/410102 --node 410102 \\
      --topology config/topologies/henan.toml
  fiscalsync init /srv/fiscalsync/410100 --node 410100 \\
      --topology henan.toml --db postgresql://fiscal@db.local/fs_410100
""",
    ),
    "join": (
        "在本机加入网络：生成节点目录、密钥和入网申请。",
        """\
在本机加入网络：生成节点目录及其密钥，并写出要送出的申请：CODE.csr 送省级，CODE.pub 送上级。

省级用 'network answer-join' 答复，在本机用 'keys install ANSWER' 安装送回的文件，然后启动 agent。

\b
示例：
  fiscalsync join /srv/fiscalsync/410183 --node 410183 --topology topology.toml \\
      -o /tmp/410183-request
""",
    ),
    "status": (
        "显示本节点身份、上下级、数据库、证书及待处理的告警。",
        """\
显示本节点的身份、上级、下级、数据库及其结构版本、本节点证书和吊销列表，以及需要运维人员处理的告警：同步失败次数过多而搁置的文件、本节点自己被发现损坏的副本（从未发出）、正在失败的文件、隔离区、缺失或过期的吊销列表、即将到期的证书，以及上一次 'fiscalsync check' 发现的问题。时间按节点时区（[node] time_zone）显示；--json 的键名保持英文。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 status
  fiscalsync --home /srv/fiscalsync/410102 status --lang en
  FISCALSYNC_HOME=/srv/fiscalsync/410102 fiscalsync status --json
""",
    ),
    "db": (
        "节点数据库。",
        """\
节点数据库。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 db upgrade
""",
    ),
    "db upgrade": (
        "执行待执行的数据库结构迁移（一个事务内）。",
        """\
执行尚未执行的数据库结构迁移（在一个事务内完成）。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 db upgrade
""",
    ),
    "topology": (
        "拓扑文件：每个节点及其角色、上级和地址。",
        """\
拓扑文件：列出每个节点、其角色、上级和通信地址。

\b
示例：
  fiscalsync topology check config/topologies/henan.toml
""",
    ),
    "topology check": (
        "检查拓扑文件，一次列出全部问题及所在行。",
        """\
检查拓扑文件，一次报告全部问题，并指出所在行。

\b
示例：
  fiscalsync topology check config/topologies/henan.toml
  fiscalsync topology check config/topologies/henan.toml --lang en
""",
    ),
    "network": (
        "在一台机器上托管的整个省级网络（本地目录传输）。",
        """\
在一台机器上托管的整个省级网络（经本地目录传输）。

\b
示例：
  fiscalsync network init /srv/province --topology config/topologies/henan.toml
""",
    ),
    "network init": (
        "为拓扑中每个节点在 DIRECTORY/<code>/ 下创建节点目录。",
        """\
为拓扑中的每个节点在 DIRECTORY/<code>/ 下创建一个节点目录。

\b
示例：
  fiscalsync network init /tmp/province --topology config/topologies/demo.toml
  fiscalsync network init /tmp/province-gm --topology config/topologies/demo.toml \\
      --suite sm2
  fiscalsync network init /tmp/henan --topology config/topologies/henan.toml \\
      --db-url-template 'postgresql://127.0.0.1/fs_{code}'
""",
    ),
    "network add-node": (
        "在省级向网络加入一个节点。",
        """\
在省级向网络加入一个节点（加入 join）。

省级将下一版拓扑发给每个节点；新节点先收到拓扑、省级扩展科目和吊销列表。若省级网络托管在 DIRECTORY 下，同时创建新节点的目录，并像 'network init' 那样用 DIRECTORY/ca 为其签发密钥和证书，下一次 'network sync' 送达全部内容。不给 DIRECTORY 时在省级节点目录（--home）中运行；新机器按 README 的说明安装。

\b
示例：
  fiscalsync network add-node /srv/province --code 410183 --parent 410100
  fiscalsync --home /srv/fiscalsync/410000 network add-node --code 410183 --parent 410100
""",
    ),
    "network move-node": (
        "把节点移到另一上级之下，如县改为省直管。",
        """\
把节点移到另一上级之下，例如把县改为省直管。

在省级运行：在其节点目录中（--home），或在托管于 DIRECTORY 下的省级网络上。下一版拓扑发给每个节点；原上级已下达给该节点的指标仍在原上级处调整和对账。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 network move-node --code 410122 --parent 410000
  fiscalsync network move-node /srv/province --code 410122 --parent 410000
""",
    ),
    "network answer-join": (
        "在省级答复在自己机器上加入的节点：签发证书并写出答复。",
        """\
在省级答复在自己机器上加入网络的节点：按拓扑给它的角色签署 'fiscalsync join' 写出的申请，并写出要送回的文件：CODE.crt、ca.crt、crl.pem、recovery.crt 和 topology.toml。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 network answer-join /tmp/410183-request \\
      --ca /secure/ca -o /tmp/410183-answer
""",
    ),
    "network retire-node": (
        "在省级撤销一个节点。",
        """\
在省级撤销一个节点。

吊销该节点的全部证书，发布吊销列表，并把不含该节点的下一版拓扑发给每个节点。各节点与它之间仍在途的内容都予以关闭，并在 HOME/statements/ 下写出说明。它的节点目录保留，其备份也保留在数据中心。若省级网络托管在 DIRECTORY 下，先运行同步轮次清空它的通道（除非给出 --no-drain）；不给 DIRECTORY 时在省级节点目录（--home）中用根 CA（--ca，或 node.toml 的 [revocation] ca）运行，省级发给它而尚无回执的变更集予以关闭并计数。

\b
示例：
  fiscalsync network retire-node /srv/province --code 410322
  fiscalsync --home /srv/fiscalsync/410000 network retire-node --code 410322 --ca /secure/ca
""",
    ),
    "network reconcile": (
        "对托管在一个目录中的省级网络逐条上下级对账，并输出汇总。",
        """\
对托管在一个目录中的省级网络的每一条上下级关系进行对账，并输出汇总。

\b
示例：
  fiscalsync network reconcile /srv/province
""",
    ),
    "network sync": (
        "对托管在 DIRECTORY 下的省级网络所有节点运行同步轮次。",
        """\
对托管在 DIRECTORY 下的省级网络的每个节点运行同步轮次。

给出 --until-quiet 时，同步轮次一直运行，直到各处都没有在途内容，或不再有进展为止。结束时逐节点、逐通道列出仍未平静的内容及原因：未确认、已损坏（源节点的副本；从未发出）、等待中（等待前序变更集）、转发中、重试中或已搁置（失败轮次过多）。退出状态：0 已平静，16 未平静，7 有邮箱无法连通。

\b
示例：
  fiscalsync network sync /tmp/province --until-quiet
""",
    ),
    "pki": (
        "省级根 CA：节点证书及其吊销。",
        """\
省级根 CA：为节点签发证书，以及吊销证书。

\b
示例：
  fiscalsync pki init-root /secure/ca --province 410000
""",
    ),
    "pki init-root": (
        "在 DIRECTORY 中创建省级根 CA（私钥文件权限 0600）。",
        """\
在 DIRECTORY 中创建省级根 CA（私钥文件权限 0600）。

有口令时（来自 --passphrase-file 或 $FISCALSYNC_CA_PASSPHRASE）CA 私钥加密保存；请离线保管该目录。CA 的签名算法即全网的签名算法：全省每个节点的密钥、证书和变更集都使用它（sm2：SM2/SM3 商用密码，国密）。

\b
示例：
  FISCALSYNC_CA_PASSPHRASE=... fiscalsync pki init-root /secure/ca --province 410000
  fiscalsync pki init-root /secure/ca --province 410000 --suite sm2
""",
    ),
    "pki sign": (
        "签发证书，把节点的代码和角色绑定到其证书签名请求的公钥。",
        """\
签发证书，把节点的代码和角色绑定到其证书签名请求（CSR）中的公钥。

该节点在拓扑中必须具有此角色（--topology FILE，或用 --home 给出的省级节点目录）：县级节点绝不会被签发为市级。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 pki sign 410102.csr --ca /secure/ca --role county
  fiscalsync pki sign 410102.csr --ca /secure/ca --role county --topology henan.toml
""",
    ),
    "pki revoke": (
        "吊销一个节点的全部证书；吊销列表编号随之递增。",
        """\
吊销一个节点的全部证书；吊销列表的编号随之递增。

\b
示例：
  fiscalsync pki revoke --ca /secure/ca --node 410102 --reason key_compromise
""",
    ),
    "keys": (
        "本节点的密钥对和证书。",
        """\
本节点的密钥对和证书。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 keys new
""",
    ),
    "keys new": (
        "生成本节点私钥（从不离开本节点）和证书签名请求。",
        """\
生成本节点的私钥（它从不离开本节点）和证书签名请求。

给出 --renew 时（证书到期前，或要更换密钥时），新私钥在 keys/node.key.new 中等待；对其证书运行 `keys install` 后它成为本节点的私钥，旧证书保存在 keys/superseded/ 中。本节点此前签名的变更集仍然有效，即使旧证书已经过期。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 keys new
  fiscalsync --home /srv/fiscalsync/410102 keys new --suite sm2
  fiscalsync --home /srv/fiscalsync/410102 keys new --renew
""",
    ),
    "keys install": (
        "检查后安装本节点证书和根证书。",
        """\
检查后安装本节点的证书和根证书。

若给出的是省级 'network answer-join' 写出的目录，则安装其中的证书和根证书；本节点目录尚无吊销列表和恢复证书时，也一并安装。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 keys install 410102.crt --ca-cert ca.crt
  fiscalsync --home /srv/fiscalsync/410183 keys install /tmp/410183-answer
""",
    ),
    "sftp-config": (
        "为每个下级生成独立的 SFTP 账户。",
        """\
为每个下级生成独立的 SFTP 账户。

在上级节点的目录运行。对每个连入本节点的下级，给出系统账户 fs-CODE 及其创建命令（useradd --system --no-create-home --shell /usr/sbin/nologin）、sshd_config 片段（每个下级一个 Match User 块：ChrootDirectory 只含它自己的邮箱，ForceCommand internal-sftp，禁止转发和终端），以及带 restrict 的 authorized_keys。命令只打印，不执行：由运维人员审阅后以 root 执行。下级看到的邮箱仍是 /CODE，其拓扑中本节点的 endpoint 写作 sftp://fs-{code}@HOST:PORT/ 。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410100 sftp-config --keys /srv/keys
  fiscalsync --home /srv/fiscalsync/410100 sftp-config -o /etc/ssh/fiscalsync
""",
    ),
    "changeset": (
        "变更集文件：查看内容，或按本节点的信任链核验。",
        """\
变更集文件：查看其中内容，或按本节点的信任链核验。

\b
示例：
  fiscalsync changeset inspect 410000_410100_0000000001_ab12...fcs
""",
    ),
    "changeset inspect": (
        "显示变更集的头部和前几项操作（不做任何核验）。",
        """\
显示变更集的头部及其前几项操作（不做任何核验）。

\b
示例：
  fiscalsync changeset inspect 410000_410100_0000000001_ab12...fcs --ops 3
""",
    ),
    "changeset verify": (
        "为本节点核验变更集：封装、内容、签名、证书、权限。",
        """\
为本节点核验一个变更集：封装格式、内容、签名、证书和权限。

通过时显示 OK（核验通过）和变更集编号；否则给出确切原因及其退出状态（10 格式错误，11 完整性，12 签名，13 证书，14 不是发给本节点的，15 无权发送）。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410100 changeset verify 410000_410100_...fcs --lang en
""",
    ),
    "sync": (
        "与上级（及数据中心）运行一轮同步。",
        """\
与上级（及数据中心）运行一轮同步。

送出到期的发件箱内容和回执，收取并应用等待本节点接收的内容，并转发给其他节点的内容。上级无法连通时，本轮其余部分照常运行，不丢失任何内容，命令以状态 7 退出。无法接收、转发或发送的文件列在"未能接收或发送"之下，下一轮重试；连续失败 5 轮后搁置到隔离区（见 'status'）。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 sync
""",
    ),
    "outbox": (
        "列出本节点已发送、仍在等待回执的变更集（发件箱）。",
        """\
列出本节点已发送、仍在等待回执的变更集（发件箱）。

存储副本已损坏的变更集标为 DAMAGED（已损坏）：它不会被发送（损坏的副本只会被拒收），修复前会在 'status' 中列出。时间按节点时区（[node] time_zone）显示。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 outbox
  fiscalsync --home /srv/fiscalsync/410000 outbox --all --lang en
""",
    ),
    "inbox": (
        "列出提前到达、等待其前序变更集的变更集（收件箱）。",
        """\
列出提前到达、等待其前序变更集的变更集（收件箱）。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 inbox
""",
    ),
    "quarantine": (
        "列出被拒收和被搁置的文件及原因（隔离区）；查看、放行或删除。",
        """\
列出被拒收和被搁置的文件及其原因（隔离区）；查看、放行或删除其中一项。

每种文件内容只有一个条目：同一副本再次到达时只计数，不新增条目。已放行或已删除超过 [quarantine] retention_days（node.toml，默认 90 天）的条目由同步轮次清除。时间按节点时区显示。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 quarantine
  fiscalsync --home /srv/fiscalsync/410102 quarantine show 3
""",
    ),
    "quarantine show": (
        "完整显示一个隔离条目。",
        """\
完整显示一个隔离条目。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 quarantine show 3
""",
    ),
    "quarantine release": (
        "放行隔离的文件，下次同步时重新核验并接收。",
        """\
放行一个被隔离的文件：下次同步时重新核验并接收。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 quarantine release 3
""",
    ),
    "quarantine drop": (
        "永久删除隔离的文件（条目保留，标为已删除）。",
        """\
永久删除一个被隔离的文件（其条目保留，标为已删除）。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 quarantine drop 3
""",
    ),
    "check": (
        "检查本节点数据库与暂存目录是否一致；逐项列出问题及处理办法。",
        """\
检查本节点的数据库与暂存目录是否一致；逐项指出问题及处理办法。

比对发件箱与其文件和回执、已接收的变更集与签名回执、收到的文件与通道头、每个通道头与其历史、隔离区与其文件；找出崩溃遗留的临时文件。--read-data 还会完整读取每个已存储的变更集（签名、内容哈希）。--repair 只删除可以安全删除的内容：回滚事务留下的孤立文件、过期的临时文件、已接收过的文件、已删除隔离条目的文件；绝不删除任何未确认或未应用内容的唯一副本。可与 agent 和运维人员同时运行（它会等待同步轮次结束）；agent 每天运行一次，'status' 显示上一次检查的发现。退出状态：0 一致，17 有问题。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410100 check
  fiscalsync --home /srv/fiscalsync/410100 check --read-data --repair
""",
    ),
    "codes": (
        "基础数据规范：分类科目、资金性质和转移支付类型。",
        """\
基础数据规范（编码集）：分类科目、资金性质和转移支付类型。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 codes import extensions.csv
""",
    ),
    "codes import": (
        "导入省级扩展科目并发送给每个节点。",
        """\
导入省级扩展科目，并发送给每个节点。

FILE 是 CSV 文件，列为 codeset,year,code,name,parent,level。每一行错误都会列出，只有全部正确才导入。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 codes import extensions.csv
  fiscalsync --home /srv/fiscalsync/410000 codes import codes-2027.csv --year 2027 \\
      --changes changes-2027.csv
""",
    ),
    "codes list": (
        "列出本节点已知的科目（国家编码集和省级扩展）。",
        """\
列出本节点已知的科目（国家编码集和省级扩展科目）。

给出 --changes 时，列出从上一年度到 --year 发生变动的科目及其新旧名称：即结转到该年度时它们如何变化。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 codes list --codeset func --year 2026
  fiscalsync --home /srv/fiscalsync/410102 codes list --year 2027 --changes
""",
    ),
    "revocation": (
        "证书吊销列表，沿层级逐级下发。",
        """\
证书吊销列表，沿层级逐级下发。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 revocation publish --ca /secure/ca
""",
    ),
    "revocation publish": (
        "在省级重新签发 CA 的吊销列表并发送给每个节点。",
        """\
重新签发 CA 的吊销列表，并发送给每个节点（在省级运行）。

吊销列表以新的编号和新的有效期（node.toml 的 [revocation] validity_days，默认 7 天）重新签名，必须在失效前再次发布：node.toml 指明 CA 目录（[revocation] ca）时由省级 agent 自动发布；`fiscalsync status` 会提示何时到期。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 revocation publish --ca /secure/ca
""",
    ),
    "revocation install": (
        "检查后在本节点安装省级吊销列表（crl.pem）。",
        """\
检查后在本节点安装省级吊销列表（crl.pem）。

没有吊销列表的节点不接收任何内容。它必须由已安装的根 CA 签名，且不早于本节点现有的列表；此后的列表随同步到达。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 revocation install crl.pem
  fiscalsync --home /srv/fiscalsync/410183 revocation install /tmp/410183-answer
""",
    ),
}

OPTIONS: dict[tuple[str, str], str] = {
    ("", "--home"): "节点目录（默认：$FISCALSYNC_HOME）。",
    ("", "--lang"): "所有命令以中文（默认）或英文显示帮助、输出和消息；"
    "命令自己的 --lang（写在命令之后）优先。",
    ("init", "--node"): "本节点的代码，如 410102。",
    ("join", "--node"): "本节点的代码，如 410183。",
    ("join", "--topology"): "列有本节点的省级拓扑（由 'network add-node' 生成）。",
    ("join", "--out"): "存放待送出申请（CODE.csr、CODE.pub）的新目录。",
    ("join", "--suite"): "全网的签名算法。",
    ("status", "--json"): "输出 JSON 而不是表格。",
    (
        "network init",
        "--db-url-template",
    ): "每个节点的数据库 URL，含 {code}；默认在各节点目录中用 SQLite。",
    ("network add-node", "--code"): "加入节点的行政区划代码，如 410183。",
    ("network add-node", "--parent"): "其财政上级（省或市）的代码。",
    ("network add-node", "--name"): "其名称（默认：取自行政区划表）。",
    ("network add-node", "--abbreviation"): "其文号的开头（简称），如 新财。",
    ("network add-node", "--db-url"): "其数据库 URL（默认：其节点目录中的 SQLite）。",
    ("network move-node", "--code"): "要移动的节点代码，如 410122。",
    ("network move-node", "--parent"): "其新的财政上级代码，如 410000。",
    ("network answer-join", "--ca"): "根 CA 目录（默认：node.toml 的 [revocation] ca）。",
    ("network answer-join", "--out"): "存放待送回答复的新目录。",
    ("network retire-node", "--code"): "要撤销的节点代码，如 410322。",
    ("network retire-node", "--no-drain"): "不先同步到平静。",
    (
        "network retire-node",
        "--ca",
    ): "不给 DIRECTORY 时：根 CA 目录（默认：node.toml 的 [revocation] ca）。",
    ("network reconcile", "--full"): "由各方的记录重新计算其哈希摘要。",
    ("network sync", "--until-quiet"): "重复同步轮次，直到没有在途内容。",
    ("network sync", "--max-rounds"): "运行这么多轮后停止。",
    ("pki init-root", "--province"): "省级代码，如 410000。",
    ("pki sign", "--role"): "节点的角色。",
    ("pki sign", "--days"): "有效天数。",
    ("pki sign", "--out"): "证书文件（默认：CSR 旁的 CODE.crt）。",
    ("pki sign", "--topology"): "用来核对角色的拓扑（默认：--home 的拓扑）。",
    ("pki revoke", "--node"): "要吊销其证书的节点代码。",
    ("pki revoke", "--reason"): "RFC 5280 吊销原因，如 key_compromise、superseded。",
    (
        "keys new",
        "--renew",
    ): "证书续期：新私钥在当前私钥旁等待，当前私钥继续签名，直到新证书安装为止。",
    ("keys new", "--suite"): "全网的签名算法（默认：已安装根证书的算法，否则 ed25519）。",
    ("keys install", "--ca-cert"): "省级的 ca.crt（给出证书文件时使用）。",
    (
        "sftp-config",
        "--output",
    ): "写入此目录（sshd 片段、authorized_keys、setup.sh），并以它为 AuthorizedKeysFile 所在目录（默认：打印出来，供 /etc/ssh/fiscalsync 使用）。",
    ("sftp-config", "--chroots"): "各下级 chroot 的上级目录：root 所有，与节点目录在同一文件系统。",
    (
        "sftp-config",
        "--keys",
    ): "下级 SSH 公钥所在目录：CODE.pub 或 CODE/keys/ssh_ed25519.pub（默认：节点目录所在的目录）。",
    ("sftp-config", "--group"): "本节点 agent 的用户组（默认：节点目录的属组）。",
    ("changeset inspect", "--ops"): "显示多少项操作。",
    ("sync", "--retransmit-now"): "立即重发每个未确认的变更集。",
    ("sync", "--json"): "以 JSON 输出汇总。",
    ("outbox", "--all"): "包括已确认的变更集。",
    ("quarantine", "--all"): "包括已放行和已删除的条目。",
    ("check", "--read-data"): "同时完整读取并核验每个已存储的变更集。",
    ("check", "--repair"): "删除可以安全删除的内容，并说明做了什么。",
    ("check", "--json"): "以 JSON 输出检查结果。",
    (
        "codes import",
        "--year",
    ): "每一行都属于此预算年度（此时可省略 year 列）：新年度的编码集（新年度科目）。",
    (
        "codes import",
        "--changes",
    ): "与 --year 同用：上一年度在该年度变动的科目（科目变动对照），CSV 列为 codeset,old,new；结转到该年度时采用新科目。",
    ("codes list", "--codeset"): "func、econ、fund、transfer、revenue 或 region。",
    ("codes list", "--changes"): "上一年度在 --year 中变动的科目（科目变动对照），全部编码集。",
}

EXIT_STATUS = """\b
退出状态：
  0   成功
  1   意外失败（程序缺陷：请连同 traceback 报告）
  2   命令行用法错误
  3   输入错误：文件格式错误、节点代码未知、金额错误
  4   节点目录不存在、不为空，或不是本节点的
  5   数据库无法连接或无法使用
  6   拓扑未通过检查（逐项列出问题）
  7   上级或邮箱无法连通（不丢失任何内容；下一次同步继续）
  8   密钥、证书或 CA 无法使用
  9   数据库结构比本 fiscalsync 新或旧
  10-15  变更集被拒收：10 格式错误，11 完整性，12 签名，
         13 证书，14 接收方不符，15 无权发送
  16  network sync --until-quiet 结束时仍有在途内容（逐项列出）
  17  check 发现节点目录有问题（逐项列出，并说明处理办法）
  74  磁盘或文件系统故障（如磁盘已满）；不会留下写了一半的内容
"""
"""The exit statuses of ``fiscalsync`` in Chinese, after the options of its help."""
