// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import "./IDataToken.sol";

/// @title Metadata
/// @notice Publishes an asset's DDO on chain as event data, written only by the datatoken's minter.
/// Nothing is stored: indexers (the provider) read the events.
contract Metadata {
    event MetadataCreated(address indexed dataToken, address indexed createdBy, bytes flags, bytes data);
    event MetadataUpdated(address indexed dataToken, address indexed updatedBy, bytes flags, bytes data);

    modifier onlyMinterOf(address dataToken) {
        require(IDataToken(dataToken).minter() == msg.sender, "Metadata: caller is not the datatoken minter");
        _;
    }

    function create(address dataToken, bytes calldata flags, bytes calldata data) external onlyMinterOf(dataToken) {
        emit MetadataCreated(dataToken, msg.sender, flags, data);
    }

    function update(address dataToken, bytes calldata flags, bytes calldata data) external onlyMinterOf(dataToken) {
        emit MetadataUpdated(dataToken, msg.sender, flags, data);
    }
}
